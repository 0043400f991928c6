//! Rendering for people: aligned tables and detail views.
//!
//! Pure: `mao_api` documents in, text out. Nothing here does IO, reads a clock ("now"
//! is an argument) or knows the commands; the printer in `app` writes what it returns.

pub mod activity;
pub mod dataset;
pub mod federation;
pub mod insight;
pub mod node;
pub mod notification;
pub mod pipeline;
pub mod run;
pub mod schedule;
pub mod spike;
pub mod table;
pub mod tool;

#[cfg(test)]
mod fixtures;
