//! One module per resource, each with its clap enum, its own validation (what can be
//! checked before connecting) and its `run`. Only `main` uses them.

pub mod activity;
pub mod context;
pub mod dataset;
pub mod federation;
pub mod insight;
pub mod node;
pub mod notification;
pub mod pipeline;
pub mod run;
pub mod schedule;
pub mod spike;
pub mod tool;

/// Parsing of one command's arguments alone, for unit tests.
#[cfg(test)]
pub mod testing {
    use clap::Args;

    /// Parses `argv` as the arguments of a command whose arguments are `T`.
    pub fn args<T: Args>(argv: &[&str]) -> Result<T, clap::Error> {
        let command = T::augment_args(clap::Command::new("maoctl"));
        let matches =
            command.try_get_matches_from(std::iter::once("maoctl").chain(argv.iter().copied()))?;
        T::from_arg_matches(&matches)
    }
}
