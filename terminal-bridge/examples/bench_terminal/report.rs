//! The figures, their ratios and the targets they are held against.

use crate::Settings;
use crate::measure::Memory;

/// Targets: echo p50 no worse than terminado, throughput at least 3x terminado and 80% of a
/// direct PTY read, cold first prompt within 100 ms, under 64 KiB per idle connection.
const THROUGHPUT_VS_TERMINADO: f64 = 3.0;
const THROUGHPUT_VS_DIRECT: f64 = 0.8;
const COLD_PROMPT_MS: f64 = 100.0;
const IDLE_CONNECTION_KIB: f64 = 64.0;

/// Every sample of one run.
#[derive(Default)]
pub struct Report {
    pub runtime: String,
    pub echo_raw: Vec<u64>,
    pub echo_json: Vec<u64>,
    pub echo_terminado: Vec<u64>,
    pub pair_raw: Vec<u64>,
    pub pair_terminado: Vec<u64>,
    pub direct: Vec<f64>,
    pub through_raw: Vec<f64>,
    pub through_json: Vec<f64>,
    pub through_terminado: Vec<f64>,
    pub cold: Vec<f64>,
    pub warm_new: Vec<f64>,
    pub reattach: Vec<f64>,
    pub terminado_prompt: Vec<f64>,
    pub idle_memory: Option<Memory>,
    pub attached_memory: Option<Memory>,
}

/// The `p`th percentile (nearest rank) of `samples`; NaN when there are none.
fn pct<T: Copy + Into<f64>>(samples: &[T], p: usize) -> f64 {
    let mut s: Vec<f64> = samples.iter().map(|&v| v.into()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    s[(s.len() * p / 100).min(s.len() - 1)]
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

impl Report {
    pub fn new(runtime: String) -> Report {
        Report {
            runtime,
            ..Report::default()
        }
    }

    pub fn print(&self, settings: &Settings) {
        println!("terminal benchmark: bridge runtime {}", self.runtime);
        let terminado = !self.echo_terminado.is_empty();

        println!("Keystroke echo round trip ({} keys, µs)", settings.keys);
        let echo = |name: &str, s: &[u64]| {
            let s: Vec<u32> = s.iter().map(|&v| v as u32).collect();
            println!(
                "  {name:<28} p50 {:7.0}   p99 {:7.0}",
                pct(&s, 50),
                pct(&s, 99)
            );
            pct(&s, 50)
        };
        let raw = echo("bridge raw endpoint", &self.echo_raw);
        let json = echo("bridge /ws JSON", &self.echo_json);
        if terminado {
            let base = echo("terminado", &self.echo_terminado);
            println!(
                "  p50 vs terminado: raw {:.2}x, JSON {:.2}x   target <= 1.00: {}",
                raw / base,
                json / base,
                verdict(raw <= base && json <= base)
            );
        }
        println!("  two keys back to back:");
        echo("bridge raw endpoint", &self.pair_raw);
        if terminado {
            echo("terminado", &self.pair_terminado);
        }

        println!(
            "Output throughput ({} MB per run, median of {} runs, MB/s)",
            settings.megabytes,
            self.direct.len()
        );
        let direct = pct(&self.direct, 50);
        let through = |name: &str, s: &[f64]| {
            let v = pct(s, 50);
            println!("  {name:<28} {v:8.1}   {:5.2} of direct", v / direct);
            v
        };
        through("direct PTY read (limit)", &self.direct);
        let raw = through("bridge raw endpoint", &self.through_raw);
        let json = through("bridge /ws JSON", &self.through_json);
        println!(
            "  target >= {THROUGHPUT_VS_DIRECT:.2} of direct: raw {}, JSON {}",
            verdict(raw >= THROUGHPUT_VS_DIRECT * direct),
            verdict(json >= THROUGHPUT_VS_DIRECT * direct)
        );
        if terminado {
            let base = through("terminado", &self.through_terminado);
            println!(
                "  vs terminado: raw {:.1}x, JSON {:.1}x   target >= {THROUGHPUT_VS_TERMINADO:.0}x: raw {}, JSON {}",
                raw / base,
                json / base,
                verdict(raw >= THROUGHPUT_VS_TERMINADO * base),
                verdict(json >= THROUGHPUT_VS_TERMINADO * base)
            );
        }

        println!(
            "WebSocket connect to first prompt ({} runs each, ms)",
            self.cold.len()
        );
        let prompt = |name: &str, s: &[f64]| {
            println!(
                "  {name:<36} p50 {:7.1}   p90 {:7.1}",
                pct(s, 50),
                pct(s, 90)
            );
            pct(s, 50)
        };
        let cold = prompt("cold (new sandbox, new shell)", &self.cold);
        prompt("warm (running sandbox, new shell)", &self.warm_new);
        prompt("warm (re-attach to a running shell)", &self.reattach);
        if terminado {
            prompt("terminado (new shell)", &self.terminado_prompt);
        }
        println!(
            "  target cold p50 <= {COLD_PROMPT_MS:.0} ms: {}",
            verdict(cold <= COLD_PROMPT_MS)
        );

        println!("Bridge memory (VmRSS of the bridge process)");
        if let Some(m) = &self.idle_memory {
            let per = m.per_connection_kib();
            println!(
                "  {} idle /ws connections: {} -> {} KiB, {per:.1} KiB each   target < {IDLE_CONNECTION_KIB:.0}: {}",
                m.connections,
                m.before_kib,
                m.after_kib,
                verdict(per < IDLE_CONNECTION_KIB)
            );
        }
        if let Some(m) = &self.attached_memory {
            println!(
                "  {} raw connections attached to one terminal: {} -> {} KiB, {:.1} KiB each",
                m.connections,
                m.before_kib,
                m.after_kib,
                m.per_connection_kib()
            );
        }
    }
}
