//! The daemon's log on stderr with the node's secrets masked: whatever an error message
//! or a field quotes, a secret value never reaches the log.

use std::io::{self, Write};

use mao_node::redact::Redactor;
use tracing_subscriber::fmt::MakeWriter;

/// Makes stderr writers that mask `redactor`'s secrets. The formatter writes each event in
/// one call, so a secret is never split across two writes.
#[derive(Clone)]
pub struct RedactingStderr {
    redactor: Redactor,
}

impl RedactingStderr {
    pub fn new(redactor: Redactor) -> RedactingStderr {
        RedactingStderr { redactor }
    }
}

/// One event's writer.
pub struct Masked<'a> {
    redactor: &'a Redactor,
}

impl Write for Masked<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::stderr().write_all(&self.redactor.redact_bytes(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = Masked<'a>;

    fn make_writer(&'a self) -> Masked<'a> {
        Masked {
            redactor: &self.redactor,
        }
    }
}
