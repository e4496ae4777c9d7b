//! What pgsans reads in SQL text, and only that: a lexer that skips what PostgreSQL's own lexer
//! skips (comments, nested block comments, string and `E''` literals, quoted identifiers,
//! dollar-quoted bodies) and yields the words, `$n` parameters and `;` separators around them.
//!
//! pgsans never parses SQL; it looks at these tokens to refuse a COPY through a query method,
//! to count the parameters a text refers to, to know which statements may end or open a
//! transaction (so that the automatic `BEGIN` follows work still in flight), and to notice
//! statements that change the schema or `search_path`.

/// A token of SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// A keyword or unquoted identifier.
    Word(&'a str),
    /// `$n`.
    Param(u32),
    /// `;`: the end of a statement.
    Semicolon,
}

/// The tokens of `sql`, in order. Unterminated literals and comments run to the end.
pub(crate) fn tokens(sql: &str) -> Tokens<'_> {
    Tokens { sql, i: 0 }
}

pub(crate) struct Tokens<'a> {
    sql: &'a str,
    i: usize,
}

fn word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// The index just past the (nested, as PostgreSQL nests them) block comment starting at `i`, or
/// the end of `b` if it is not closed.
fn after_block_comment(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < b.len() {
        if b[i..].starts_with(b"/*") {
            depth += 1;
            i += 2;
        } else if b[i..].starts_with(b"*/") {
            depth = depth.saturating_sub(1);
            i += 2;
            if depth == 0 {
                break;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// The index just past the quoted run opened by `quote` at `i` (a doubled quote inside is two
/// adjacent runs: the same result); with `backslash`, `\x` escapes (an `E''` string).
fn after_quoted(b: &[u8], i: usize, quote: u8, backslash: bool) -> usize {
    let mut j = i + 1;
    while j < b.len() {
        if backslash && b[j] == b'\\' {
            j += 2;
            continue;
        }
        if b[j] == quote {
            return j + 1;
        }
        j += 1;
    }
    b.len()
}

/// At `$` (not inside a word): the length of a dollar-quote tag `$tag$` / `$$`, if it is one.
fn dollar_tag(rest: &[u8]) -> Option<usize> {
    let body = &rest[1..];
    if body.first() == Some(&b'$') {
        return Some(2);
    }
    if !body.first().is_some_and(|&c| word_start(c)) {
        return None;
    }
    let n = body.iter().position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80))?;
    (body[n] == b'$').then_some(n + 2)
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let b = self.sql.as_bytes();
        while self.i < b.len() {
            let i = self.i;
            let rest = &b[i..];
            let c = rest[0];
            if rest.starts_with(b"--") {
                self.i += rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            } else if rest.starts_with(b"/*") {
                self.i = after_block_comment(b, i);
            } else if c == b'\'' {
                self.i = after_quoted(b, i, b'\'', false);
            } else if c == b'"' {
                self.i = after_quoted(b, i, b'"', false);
            } else if (c == b'e' || c == b'E') && rest.get(1) == Some(&b'\'') {
                self.i = after_quoted(b, i + 1, b'\'', true);
            } else if c == b'$' {
                if let Some(n) = dollar_tag(rest) {
                    let tag = &rest[..n];
                    let body = &rest[n..];
                    let end = body.windows(tag.len()).position(|w| w == tag).map_or(body.len(), |p| p + tag.len());
                    self.i += n + end;
                } else {
                    let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    self.i += 1 + digits;
                    if digits > 0 {
                        let n = self.sql[i + 1..i + 1 + digits].parse().unwrap_or(u32::MAX);
                        return Some(Token::Param(n));
                    }
                }
            } else if word_start(c) {
                let n = rest.iter().position(|&c| !word_char(c)).unwrap_or(rest.len());
                self.i += n;
                return Some(Token::Word(&self.sql[i..i + n]));
            } else if c.is_ascii_digit() {
                // A number (and what sticks to it, as `1e5` or `12abc`): not a word.
                let n = rest.iter().position(|&c| !word_char(c) && c != b'.').unwrap_or(rest.len());
                self.i += n;
            } else if c == b';' {
                self.i += 1;
                return Some(Token::Semicolon);
            } else {
                self.i += 1;
            }
        }
        None
    }
}

/// A statement's first three words and whether `AND CHAIN` appears in it.
#[derive(Debug, Default)]
struct Head<'a> {
    words: [Option<&'a str>; 3],
    chain: bool,
}

impl Head<'_> {
    fn word_is(&self, i: usize, w: &str) -> bool {
        self.words[i].is_some_and(|x| x.eq_ignore_ascii_case(w))
    }
}

impl Head<'_> {
    /// What this statement does to the transaction status.
    fn effect(&self) -> TxEffect {
        let is = |w: &str| self.word_is(0, w);
        if is("BEGIN") || is("START") {
            TxEffect::Opens
        } else if (is("COMMIT") || is("ROLLBACK")) && self.word_is(1, "PREPARED") {
            // Runs outside a block; changes nothing about it.
            TxEffect::Unchanged
        } else if is("ROLLBACK") && (self.word_is(1, "TO") || self.word_is(2, "TO")) {
            // ROLLBACK [WORK | TRANSACTION] TO SAVEPOINT: the block stays.
            TxEffect::Unchanged
        } else if is("COMMIT")
            || is("END")
            || is("ROLLBACK")
            || is("ABORT")
            || (is("PREPARE") && self.word_is(1, "TRANSACTION"))
        {
            if self.chain {
                TxEffect::Unknown
            } else {
                TxEffect::Ends
            }
        } else {
            TxEffect::Unchanged
        }
    }
}

/// Everything pgsans reads in one text, from one pass of the lexer (it runs for every query
/// sent as text, so once is what it costs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SqlFacts {
    /// The highest `$n` it refers to (0: none).
    pub(crate) highest_param: u32,
    /// What it does to the transaction status.
    pub(crate) tx: TxEffect,
    /// A COPY through the client: its direction ([`copy_through_client`]).
    pub(crate) copy: Option<&'static str>,
}

/// The [`SqlFacts`] of `sql`.
pub(crate) fn analyze(sql: &str) -> SqlFacts {
    let mut highest_param = 0;
    let (mut effect, mut control, mut statements) = (TxEffect::Unchanged, 0, 0);
    let mut current: Option<Head<'_>> = None;
    let mut last_and = false;
    let (mut first_word, mut copy) = (true, None);
    let mut is_copy = false;
    let mut end_statement = |head: Option<Head<'_>>| {
        if let Some(head) = head {
            statements += 1;
            let this = head.effect();
            if this != TxEffect::Unchanged {
                control += 1;
                effect = this;
            }
        }
    };
    for t in tokens(sql) {
        match t {
            Token::Semicolon => {
                end_statement(current.take());
                last_and = false;
            }
            Token::Word(w) => {
                if std::mem::take(&mut first_word) {
                    is_copy = w.eq_ignore_ascii_case("COPY");
                } else if is_copy && copy.is_none() {
                    if w.eq_ignore_ascii_case("STDIN") {
                        copy = Some("FROM STDIN");
                    } else if w.eq_ignore_ascii_case("STDOUT") {
                        copy = Some("TO STDOUT");
                    }
                }
                let head = current.get_or_insert_with(Head::default);
                if let Some(slot) = head.words.iter_mut().find(|s| s.is_none()) {
                    *slot = Some(w);
                }
                if last_and && w.eq_ignore_ascii_case("CHAIN") {
                    head.chain = true;
                }
                last_and = w.eq_ignore_ascii_case("AND");
            }
            Token::Param(n) => highest_param = highest_param.max(n),
        }
    }
    end_statement(current);
    if control > 1 || (control == 1 && statements > 1) {
        // A block ended or opened among other statements of one simple query (implicit
        // transactions, errors before it): ask the server.
        effect = TxEffect::Unknown;
    }
    SqlFacts { highest_param, tx: effect, copy }
}

/// The first keyword of `sql` (comments and whitespace skipped), or "".
pub(crate) fn first_keyword(sql: &str) -> &str {
    tokens(sql)
        .find_map(|t| match t {
            Token::Word(w) => Some(w),
            _ => None,
        })
        .unwrap_or("")
}

/// What running a text does to the transaction status, as far as its words tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxEffect {
    /// No statement ends or opens a transaction block (an error may still fail an open one).
    Unchanged,
    /// It ends any transaction block, whatever happens (`COMMIT`, `ROLLBACK`, `PREPARE
    /// TRANSACTION`, …): idle afterwards.
    Ends,
    /// It opens a transaction block (`BEGIN`, `START TRANSACTION`): in a block afterwards.
    Opens,
    /// Several statements that end or open blocks, or a chained end: only the server's
    /// answer tells.
    Unknown,
}

/// The transaction effect of `sql` (see [`TxEffect`]).
pub(crate) fn transaction_effect(sql: &str) -> TxEffect {
    analyze(sql).tx
}

/// A COPY that moves data through the client (`COPY … FROM STDIN`, `COPY … TO STDOUT`): its
/// direction, found from the first keyword and a bare `STDIN` / `STDOUT` word outside quotes
/// and comments. Query methods refuse these before sending anything (the extended protocol
/// cannot end a copy-in cleanly behind queued messages); a COPY to or from a server file runs.
pub(crate) fn copy_through_client(sql: &str) -> Option<&'static str> {
    analyze(sql).copy
}

/// `name` as an SQL identifier: double-quoted, inner quotes doubled (psycopg2 quotes a named
/// cursor's name the same way), so any name is safe to put in a statement.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_what_postgres_skips() {
        let words = |sql: &str| -> Vec<String> {
            tokens(sql)
                .map(|t| match t {
                    Token::Word(w) => w.to_owned(),
                    Token::Param(n) => format!("${n}"),
                    Token::Semicolon => ";".into(),
                })
                .collect()
        };
        assert_eq!(words("SELECT $1, '$2', \"$3\", $$ $4 $$, $x$ ; $5 $x$ -- $6\n ; $7"), ["SELECT", "$1", ";", "$7"]);
        assert_eq!(words("/* a /* nested */ $1 */ x$1 E'it\\'s $2' 'it''s $3' $10"), ["x$1", "$10"]);
        assert_eq!(words("select 1e5, 12abc, a.b"), ["select", "a", "b"]);
        assert_eq!(words("'unterminated $1"), Vec::<String>::new());
        assert_eq!(words("$ $a"), ["$a"].map(|s| s[1..].to_owned()));
    }

    #[test]
    fn highest_parameter() {
        let highest_param = |sql: &str| analyze(sql).highest_param;
        assert_eq!(highest_param("SELECT 1"), 0);
        assert_eq!(highest_param("SELECT $2::int, $1"), 2);
        assert_eq!(highest_param("SELECT '$3', $$ $4 $$, abc$5"), 0);
        assert_eq!(highest_param("SELECT $99999999999"), u32::MAX);
    }

    #[test]
    fn transaction_effects() {
        use TxEffect::*;
        for (sql, effect) in [
            ("SELECT 1", Unchanged),
            ("INSERT INTO t VALUES (1); UPDATE t SET a = 2", Unchanged),
            ("COMMIT", Ends),
            ("  end work", Ends),
            ("ROLLBACK", Ends),
            ("ABORT", Ends),
            ("PREPARE TRANSACTION 'x'", Ends),
            ("PREPARE p AS SELECT 1", Unchanged),
            ("ROLLBACK TO SAVEPOINT a", Unchanged),
            ("rollback work to a", Unchanged),
            ("ROLLBACK TRANSACTION", Ends),
            ("ROLLBACK PREPARED 'x'", Unchanged),
            ("COMMIT PREPARED 'x'", Unchanged),
            ("COMMIT AND CHAIN", Unknown),
            ("BEGIN", Opens),
            ("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", Opens),
            ("BEGIN; INSERT INTO t VALUES (1)", Unknown),
            ("INSERT INTO t VALUES (1); COMMIT", Unknown),
            ("SELECT 'COMMIT'; -- COMMIT", Unchanged),
            ("DO $$ BEGIN COMMIT; END $$", Unchanged),
            ("SAVEPOINT a; RELEASE SAVEPOINT a", Unchanged),
        ] {
            assert_eq!(transaction_effect(sql), effect, "{sql}");
        }
    }

    #[test]
    fn copy_through_the_client() {
        assert_eq!(copy_through_client("COPY t FROM STDIN"), Some("FROM STDIN"));
        assert_eq!(copy_through_client(" /* c */ copy (select 1) to stdout with (format csv)"), Some("TO STDOUT"));
        assert_eq!(copy_through_client("copy t(a, b) from stdin;"), Some("FROM STDIN"));
        assert_eq!(copy_through_client("COPY t FROM '/tmp/stdin'"), None);
        assert_eq!(copy_through_client("COPY \"stdin\" TO '/tmp/x'"), None);
        assert_eq!(copy_through_client("COPY (SELECT $$ STDOUT $$, 'it''s stdin') TO '/f'"), None);
        assert_eq!(copy_through_client("COPY (SELECT $q$ stdout $q$) TO PROGRAM 'cat' -- stdout"), None);
        assert_eq!(copy_through_client("SELECT 'COPY t FROM STDIN'"), None);
        assert_eq!(copy_through_client("COPY t FROM STDIN_X"), None);
        assert_eq!(copy_through_client("COPY t FROM 'unterminated"), None);
        assert_eq!(copy_through_client("COPY t /* unterminated"), None);
        assert_eq!(copy_through_client("COPY t FROM $"), None);
    }

    #[test]
    fn first_keywords() {
        assert_eq!(first_keyword("  /* a /* nested */ c */ -- x\n fetch 1 from c"), "fetch");
        assert_eq!(first_keyword("(SELECT 1)"), "SELECT");
        assert_eq!(first_keyword(""), "");
    }
}
