//! What every command runs with: the daemon's client, the printer of results, the usage
//! error that `main` turns into exit status 2, the hints added to errors, the clock.
//!
//! A leaf: nothing here knows a command, an argument or a view.

use std::io::{self, Read, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::ValueEnum;
use mao_api::List;
use mao_client::{Client, ClientOptions};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A mistake in what the user asked for; `main` exits with status 2 for it.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The client of the daemon at `endpoint`; an endpoint that is not a URL, or a CA that
/// holds no certificate, is a usage error.
pub fn connect(endpoint: &str, options: ClientOptions) -> Result<Client, UsageError> {
    Client::with_options(endpoint, options).map_err(|e| UsageError(e.to_string()))
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// aligned columns with a header
    Table,
    /// the API's document, pretty-printed
    Json,
}

/// Prints results in the format asked for.
pub struct Printer {
    pub format: OutputFormat,
}

impl Printer {
    /// A list: as one page of the API's document, or as the table `table` renders (with
    /// `empty_note` on stderr when there is nothing in it).
    pub fn list<T, F>(&self, items: Vec<T>, empty_note: &str, table: F) -> anyhow::Result<()>
    where
        T: Serialize,
        F: FnOnce(&[T]) -> String,
    {
        match self.format {
            // All pages were fetched, so the document is one page without `next`.
            OutputFormat::Json => {
                let page = List { items, next: None };
                write_stdout(&json(&serde_json::to_value(&page)?))
            }
            OutputFormat::Table => {
                let text = table(&items);
                if items.is_empty() {
                    note(empty_note);
                }
                write_stdout(&text)
            }
        }
    }

    /// One document, or the view `details` renders of it.
    pub fn item<T: Serialize>(
        &self,
        item: &T,
        details: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<()> {
        match self.format {
            OutputFormat::Json => write_stdout(&json(&serde_json::to_value(item)?)),
            OutputFormat::Table => write_stdout(&details(item)),
        }
    }

    /// What a change left: the document, or one line that says what was done.
    pub fn done<T: Serialize>(&self, item: &T, message: &str) -> anyhow::Result<()> {
        match self.format {
            OutputFormat::Json => write_stdout(&json(&serde_json::to_value(item)?)),
            OutputFormat::Table => write_stdout(&format!("{message}\n")),
        }
    }

    /// What a removal left: nothing in JSON, else one line.
    pub fn removed(&self, message: &str) -> anyhow::Result<()> {
        match self.format {
            // DELETE answers 204 without a document; the exit status says it all.
            OutputFormat::Json => Ok(()),
            OutputFormat::Table => write_stdout(&format!("{message}\n")),
        }
    }
}

/// The document pretty-printed, with a final newline.
pub fn json(value: &serde_json::Value) -> String {
    // Serializing a `Value` cannot fail: its map keys are strings.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes `text` to stdout and flushes it; a closed pipe comes back as the `io::Error`
/// that `main` recognises.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// A line on stderr, for people.
pub fn note(message: &str) {
    // Nothing useful can be done when stderr is gone.
    let _ = writeln!(io::stderr(), "{message}");
}

/// Adds what to do next to an error the user can fix, keeping the server's message first.
pub fn hint(
    error: mao_client::Error,
    applies: fn(&mao_client::Error) -> bool,
    advice: &str,
) -> anyhow::Error {
    if applies(&error) {
        anyhow::anyhow!("{error} ({advice})")
    } else {
        error.into()
    }
}

/// What to do about a resource the daemon does not have, as a `map_err` function: the
/// command that lists what there is.
pub fn not_found(advice: &'static str) -> impl Fn(mao_client::Error) -> anyhow::Error {
    move |error| hint(error, mao_client::Error::is_not_found, advice)
}

/// Creates a resource, or with `replace` replaces the one of that name; returns what the
/// daemon saved and the verb that says which it was. The daemon's refusal comes with
/// what to do instead.
pub fn register<T>(
    replace: bool,
    create: impl FnOnce() -> Result<T, mao_client::Error>,
    replace_existing: impl FnOnce() -> Result<T, mao_client::Error>,
) -> anyhow::Result<(T, &'static str)> {
    let (result, verb, refused, advice): (_, _, fn(&mao_client::Error) -> bool, _) = if replace {
        (
            replace_existing(),
            "replaced",
            mao_client::Error::is_not_found,
            "add it without --replace",
        )
    } else {
        (
            create(),
            "registered",
            mao_client::Error::is_conflict,
            "pass --replace to replace it",
        )
    };
    let saved = result.map_err(|e| hint(e, refused, advice))?;
    Ok((saved, verb))
}

/// The JSON document of a `what` at `path` (`-`: standard input).
pub fn read_document<T: DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    let (text, shown) = read_text(path, what)?;
    serde_json::from_str(&text)
        .map_err(|e| UsageError(format!("{shown} is not a {what} document: {e}")).into())
}

/// The text of the file at `path` (`-`: standard input, which holds the `what`) and how
/// to name it in messages.
pub fn read_text(path: &Path, what: &str) -> Result<(String, String), UsageError> {
    if path == Path::new("-") {
        let mut text = String::new();
        io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| UsageError(format!("cannot read the {what} from standard input: {e}")))?;
        Ok((text, "standard input".to_owned()))
    } else {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
        Ok((text, path.display().to_string()))
    }
}

/// Milliseconds since the Unix epoch, for ages and durations in tables.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Seconds since the Unix epoch, for the ages of nodes.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_pretty_with_a_final_newline() {
        let text = json(&serde_json::json!({"items": []}));
        assert_eq!(text, "{\n  \"items\": []\n}\n");
    }
}
