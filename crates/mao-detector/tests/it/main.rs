//! The integration tests of mao-detector, one binary: the documented figures of the
//! default detector, measured on the labelled series of `tests/data/`.

mod evaluation;
mod scoring;
