//! The fault suite (`ops/faults`, binary `seqrd-faults`): each scenario runs real processes on loopback (`seqrd
//! serve`, `seqr-sim`, Postgres, RabbitMQ) under a bounded load, breaks something (SIGKILL, SEQR faults, a broker or
//! database outage, a dead process in a fleet of three), lets the system settle, and prints the invariants as
//! figures (`name=value`). See docs/reliability.md.

pub mod check;
pub mod load;
pub mod procs;
pub mod scenarios;

use std::fmt::Display;

/// A line on standard output.
pub fn say(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// How a figure counts for the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Must be zero.
    Zero,
    /// Counted and printed, allowed (at-least-once duplicates; a known gap that is reported).
    Allowed,
    /// Information (load figures, timings).
    Info,
}

/// A scenario's figures, in the order they were added.
#[derive(Debug, Default)]
pub struct Figures {
    pub rows: Vec<(String, String, Rule)>,
    pub notes: Vec<String>,
}

impl Figures {
    pub fn info(&mut self, name: &str, value: impl Display) {
        self.rows.push((name.to_owned(), value.to_string(), Rule::Info));
    }

    pub fn zero(&mut self, name: &str, value: impl Display) {
        self.rows.push((name.to_owned(), value.to_string(), Rule::Zero));
    }

    pub fn allowed(&mut self, name: &str, value: impl Display) {
        self.rows.push((name.to_owned(), value.to_string(), Rule::Allowed));
    }

    pub fn note(&mut self, line: impl Into<String>) {
        self.notes.push(line.into());
    }

    /// The must-be-zero figures that are not.
    pub fn failures(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|(_, v, rule)| *rule == Rule::Zero && v != "0" && v != "0.00")
            .map(|(n, _, _)| n.as_str())
            .collect()
    }

    pub fn print(&self, scenario: &str) {
        for (name, value, rule) in &self.rows {
            let tag = match rule {
                Rule::Zero if value != "0" && value != "0.00" => "   <-- must be 0",
                Rule::Allowed if value != "0" => "   (allowed)",
                _ => "",
            };
            say(&format!("   {scenario}.{name}={value}{tag}"));
        }
        for note in &self.notes {
            say(&format!("   note: {note}"));
        }
    }
}
