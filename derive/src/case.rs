//! `rename_all`: the case conventions serde and sqlx accept.

#[derive(Clone, Copy)]
pub(crate) enum Case {
    Lower,
    Upper,
    Snake,
    ScreamingSnake,
    Kebab,
    Camel,
    Pascal,
}

impl Case {
    pub(crate) const EXPECTED: &'static str = "expected one of \"lowercase\", \"UPPERCASE\", \"snake_case\", \
         \"SCREAMING_SNAKE_CASE\", \"kebab-case\", \"camelCase\", \"PascalCase\"";

    pub(crate) fn parse(s: &str) -> Option<Case> {
        Some(match s {
            "lowercase" => Case::Lower,
            "UPPERCASE" => Case::Upper,
            "snake_case" => Case::Snake,
            "SCREAMING_SNAKE_CASE" => Case::ScreamingSnake,
            "kebab-case" => Case::Kebab,
            "camelCase" => Case::Camel,
            "PascalCase" => Case::Pascal,
            _ => return None,
        })
    }

    /// Renames a Rust identifier: a field (`snake_case`) or a variant (`PascalCase`).
    pub(crate) fn apply(self, ident: &str) -> String {
        let words = words(ident);
        let capitalised = |w: &str| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        };
        match self {
            Case::Lower => words.concat(),
            Case::Upper => words.concat().to_uppercase(),
            Case::Snake => words.join("_"),
            Case::ScreamingSnake => words.join("_").to_uppercase(),
            Case::Kebab => words.join("-"),
            Case::Pascal => words.iter().map(|w| capitalised(w)).collect(),
            Case::Camel => {
                words.iter().enumerate().map(|(i, w)| if i == 0 { w.clone() } else { capitalised(w) }).collect()
            }
        }
    }
}

/// The lower-case words of an identifier: split at `_` and before an upper-case letter.
fn words(ident: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for c in ident.chars() {
        if c == '_' {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        } else if c.is_uppercase() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            current.extend(c.to_lowercase());
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::Case;

    #[test]
    fn fields_and_variants_are_renamed_like_serde() {
        let all = |ident: &str| {
            ["lowercase", "UPPERCASE", "snake_case", "SCREAMING_SNAKE_CASE", "kebab-case", "camelCase", "PascalCase"]
                .map(|c| Case::parse(c).unwrap().apply(ident))
        };
        assert_eq!(
            all("visit_count"),
            ["visitcount", "VISITCOUNT", "visit_count", "VISIT_COUNT", "visit-count", "visitCount", "VisitCount"]
        );
        assert_eq!(all("VeryHappy"), all("very_happy"));
        assert_eq!(all("Ok")[2], "ok");
        assert!(Case::parse("Title Case").is_none());
    }
}
