//! Application variables: values from `SPIN_VARIABLE_<NAME>` environment variables (as
//! Spin's default provider does) or the manifest default, and the `{{ name }}` templates
//! that component variables and `allowed_outbound_hosts` are written in.

use crate::manifest::Manifest;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;

/// Spin's rule for variable names: lowercase ASCII letters, digits and single
/// underscores, starting with a letter and not ending with an underscore.
pub fn check_name(name: &str) -> Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
        && !name.ends_with('_');
    if !ok {
        bail!(
            "invalid variable name {name:?}: use lowercase letters, digits and single \
             underscores, starting with a letter"
        );
    }
    Ok(())
}

/// Resolved values of the application's `[variables]`.
#[derive(Debug, Clone)]
pub struct AppVariables {
    values: BTreeMap<String, String>,
}

impl AppVariables {
    /// Resolves every application variable; `env` is the environment lookup (a parameter
    /// so tests need not touch the process environment).
    pub fn resolve(
        manifest: &Manifest,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<AppVariables> {
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, decl) in &manifest.variables {
            let env_name = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
            match env(&env_name).or_else(|| decl.default.clone()) {
                Some(value) => {
                    values.insert(name.clone(), value);
                }
                None => missing.push(env_name),
            }
        }
        if !missing.is_empty() {
            bail!("required variables are not set: {}", missing.join(", "));
        }
        Ok(AppVariables { values })
    }

    /// Expands `{{ name }}` references in `template`.
    pub fn render(&self, template: &str) -> Result<String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .with_context(|| format!("unclosed '{{{{' in {template:?}"))?;
            let name = after[..end].trim();
            check_name(name).with_context(|| format!("in template {template:?}"))?;
            let value = self.values.get(name).with_context(|| {
                format!("template {template:?} uses undefined variable {name:?}")
            })?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        if rest.contains("}}") {
            bail!("unopened '}}}}' in {template:?}");
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Renders each of a component's variable templates.
    pub fn component_values(
        &self,
        templates: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>> {
        templates
            .iter()
            .map(|(name, template)| Ok((name.clone(), self.render(template)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::parse(
            r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
db = { default = "postgres://default" }
token = { required = true }
[component.c]
source = "c.wasm"
"#,
        )
        .unwrap()
    }

    #[test]
    fn environment_overrides_default_and_required_must_be_set() {
        let m = manifest();
        let err = AppVariables::resolve(&m, |_| None).unwrap_err().to_string();
        assert!(err.contains("SPIN_VARIABLE_TOKEN"), "{err}");
        let vars = AppVariables::resolve(&m, |k| match k {
            "SPIN_VARIABLE_TOKEN" => Some("secret".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(vars.render("{{ db }}").unwrap(), "postgres://default");
        let vars = AppVariables::resolve(&m, |k| Some(format!("env:{k}"))).unwrap();
        assert_eq!(
            vars.render("x-{{db}}-{{ token }}").unwrap(),
            "x-env:SPIN_VARIABLE_DB-env:SPIN_VARIABLE_TOKEN"
        );
    }

    #[test]
    fn templates_are_checked() {
        let vars = AppVariables::resolve(&manifest(), |_| Some("v".into())).unwrap();
        assert!(vars.render("{{ nope }}").is_err());
        assert!(vars.render("{{ db ").is_err());
        assert!(vars.render("db }}").is_err());
        assert!(vars.render("{{ Bad }}").is_err());
        assert_eq!(vars.render("plain").unwrap(), "plain");
    }

    #[test]
    fn names_follow_spin_rules() {
        for good in ["a", "database_url", "a1_b2"] {
            check_name(good).unwrap();
        }
        for bad in ["", "1a", "A", "a__b", "a_", "a-b", "_a"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
