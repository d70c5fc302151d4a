//! A fixed-size ring of a terminal's most recent output, replayed to new attachments.

/// The last `capacity` bytes written, oldest first.
pub struct Scrollback {
    buf: Box<[u8]>,
    /// Index of the oldest byte.
    start: usize,
    len: usize,
}

impl Scrollback {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "scrollback capacity must be positive");
        Scrollback {
            buf: vec![0; capacity].into_boxed_slice(),
            start: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `data`, dropping the oldest bytes beyond the capacity.
    pub fn push(&mut self, mut data: &[u8]) {
        let cap = self.buf.len();
        if data.len() >= cap {
            data = &data[data.len() - cap..];
            self.buf.copy_from_slice(data);
            self.start = 0;
            self.len = cap;
            return;
        }
        let end = (self.start + self.len) % cap;
        let first = data.len().min(cap - end);
        self.buf[end..end + first].copy_from_slice(&data[..first]);
        self.buf[..data.len() - first].copy_from_slice(&data[first..]);
        let overflow = (self.len + data.len()).saturating_sub(cap);
        self.start = (self.start + overflow) % cap;
        self.len = (self.len + data.len()).min(cap);
    }

    /// The retained bytes, oldest first.
    pub fn contents(&self) -> Vec<u8> {
        let cap = self.buf.len();
        let first = self.len.min(cap - self.start);
        let mut out = Vec::with_capacity(self.len);
        out.extend_from_slice(&self.buf[self.start..self.start + first]);
        out.extend_from_slice(&self.buf[..self.len - first]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Scrollback;

    #[test]
    fn keeps_the_most_recent_bytes_in_order() {
        let mut model = Vec::new();
        let mut ring = Scrollback::new(10);
        for (i, chunk) in ["abc", "defgh", "ij", "klmnopq", "", "rstuvwxyz0123", "4"]
            .iter()
            .enumerate()
        {
            ring.push(chunk.as_bytes());
            model.extend_from_slice(chunk.as_bytes());
            let tail = &model[model.len().saturating_sub(10)..];
            assert_eq!(ring.contents(), tail, "after chunk {i}");
            assert_eq!(ring.len(), tail.len());
        }
    }

    #[test]
    fn wraps_at_every_offset() {
        for cap in 1..8 {
            for step in 1..12 {
                let mut ring = Scrollback::new(cap);
                let mut model = Vec::new();
                for round in 0..20u8 {
                    let chunk: Vec<u8> = (0..step)
                        .map(|j| round.wrapping_mul(31).wrapping_add(j as u8))
                        .collect();
                    ring.push(&chunk);
                    model.extend(chunk);
                    assert_eq!(ring.contents(), &model[model.len().saturating_sub(cap)..]);
                }
            }
        }
    }
}
