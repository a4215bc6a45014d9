//! Reading a `/metrics` scrape (the Prometheus text format) back into
//! samples, for the simulation's comparison of its own totals with the
//! service's counters. Sample lines only: `# HELP` and `# TYPE` lines are
//! skipped, label values are unescaped (`\\`, `\"`, `\n`).

/// One sample line: its name, its labels in order, its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Every sample of a scrape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples(pub Vec<Sample>);

impl Samples {
    /// Parses `text`; an error names the first line that is not a sample.
    pub fn parse(text: &str) -> Result<Samples, String> {
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            out.push(sample(line).ok_or_else(|| format!("line {}: not a sample: {line:?}", n + 1))?);
        }
        Ok(Samples(out))
    }

    /// The sum of the samples named `name` whose labels include `labels`
    /// (all of them with `&[]`); 0 when there are none.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v)))
            .map(|s| s.value)
            .sum()
    }

    /// The values of label `label` among the samples named `name`, with each value's sum.
    pub fn by_label(&self, name: &str, label: &str) -> std::collections::BTreeMap<String, f64> {
        let mut out = std::collections::BTreeMap::new();
        for s in self.0.iter().filter(|s| s.name == name) {
            if let Some((_, v)) = s.labels.iter().find(|(k, _)| k == label) {
                *out.entry(v.clone()).or_insert(0.0) += s.value;
            }
        }
        out
    }
}

fn sample(line: &str) -> Option<Sample> {
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let (name, mut rest) = line.split_at(name_end);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return None;
    }
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=')?;
            let key = rest.get(..eq)?.trim().to_owned();
            rest = rest.get(eq + 1..)?.trim_start().strip_prefix('"')?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (_, c) => value.push(c),
                }
            };
            rest = rest.get(end + 1..)?;
            labels.push((key, value));
        }
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample { name: name.to_owned(), labels, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_braces_quotes_and_escapes_in_their_labels() {
        let text = "# HELP x_total things\n# TYPE x_total counter\n\
            x_total{route=\"/v1/deliveries/{delivery_id}\",status=\"200\"} 3\n\
            x_total{route=\"a\\\"b\\\\c\\nd\"} 1\n\
            up 1\n\
            h_bucket{le=\"+Inf\"} 7\n";
        let s = Samples::parse(text).unwrap();
        assert_eq!(s.value("x_total", &[("route", "/v1/deliveries/{delivery_id}")]), 3.0);
        assert_eq!(s.value("x_total", &[("route", "a\"b\\c\nd")]), 1.0);
        assert_eq!(s.value("x_total", &[]), 4.0);
        assert_eq!(s.value("up", &[]), 1.0);
        assert_eq!(s.value("h_bucket", &[("le", "+Inf")]), 7.0);
        assert_eq!(s.by_label("x_total", "status").get("200"), Some(&3.0));
        assert!(Samples::parse("x_total{route=\"open} 1").is_err());
        assert!(Samples::parse("not a sample").is_err());
    }
}
