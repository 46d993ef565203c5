//! platctl: one-shot commands and an interactive shell over platd's
//! management socket.

mod client;
mod grammar;
mod log_search;
mod render;
mod shell;
mod watch;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use plat_core::api::Command;

use client::{Client, Error};
use grammar::{Cmd, Line, Plan, View, DEFAULT_SOCKET};

/// `log search` exits like grep: 0 found, 1 none, 2 trouble.
const SEARCH_TROUBLE: u8 = 2;

fn main() -> ExitCode {
    let line = match Line::try_parse() {
        Ok(l) => l,
        // Every failure exits 1, a usage error too (clap's own would be
        // 2), but for `log search`, whose 1 means "nobody".
        Err(e) => {
            let _ = e.print();
            return if !e.use_stderr() {
                ExitCode::SUCCESS
            } else if is_log_search(std::env::args().skip(1)) {
                ExitCode::from(SEARCH_TROUBLE)
            } else {
                ExitCode::FAILURE
            };
        }
    };
    let mut client = Client::new(line.socket.unwrap_or_else(|| DEFAULT_SOCKET.into()));
    let plan = line.command.as_ref().map_or(Plan::Shell, Cmd::plan);
    let done = match plan {
        Plan::Shell => shell::run(&mut client, line.json).map(|()| Outcome::Done),
        ref plan => execute(&mut client, plan, line.json),
    };
    let trouble = match plan {
        Plan::LogSearch { .. } => ExitCode::from(SEARCH_TROUBLE),
        _ => ExitCode::FAILURE,
    };
    match done {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Nothing) => ExitCode::FAILURE,
        // `platctl show sessions | head` is not an error.
        Err(Error::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            trouble
        }
    }
}

/// Whether the words of a command line (without the program) are a `log
/// search` command.
fn is_log_search(args: impl Iterator<Item = String>) -> bool {
    let mut words = Vec::new();
    let mut args = args;
    while let Some(a) = args.next() {
        if a == "--socket" {
            args.next();
        } else if !a.starts_with('-') {
            words.push(a);
            if words.len() == 2 {
                break;
            }
        }
    }
    words == ["log", "search"]
}

/// How a command went, when it went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// A search that found nothing.
    Nothing,
}

/// Runs one command, printing its answer on stdout.
pub fn execute(client: &mut Client, plan: &Plan, json: bool) -> Result<Outcome, Error> {
    let mut out = io::stdout().lock();
    let write = |out: &mut io::StdoutLock<'_>, text: &str| {
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(Error::Output)
    };
    let (answer, view) = match plan {
        Plan::Ask(c, view) => (client.ask(c.clone())?, *view),
        Plan::List(l) => (client.list(l)?, View::default()),
        Plan::CheckConfig(path) => {
            let toml = std::fs::read_to_string(path).map_err(|source| Error::File {
                path: path.clone(),
                source,
            })?;
            (client.ask(Command::ConfigCheck { toml })?, View::default())
        }
        Plan::Watch { every, iterations } => {
            let clear = io::stdout().is_terminal();
            watch::run(client, *every, *iterations, json, clear, &mut out)?;
            return Ok(Outcome::Done);
        }
        Plan::LogSearch { query, files } => {
            let found = log_search::run(*query, files)?;
            if found.bad_lines > 0 {
                eprintln!(
                    "warning: {} of {} lines are not log lines and were skipped",
                    found.bad_lines, found.lines
                );
            }
            let text = if json {
                let mut s = serde_json::to_string_pretty(&found)
                    .expect("a search result has only string keys");
                s.push('\n');
                s
            } else {
                render::search(&found, query)
            };
            write(&mut out, &text)?;
            return Ok(if found.holdings.is_empty() {
                Outcome::Nothing
            } else {
                Outcome::Done
            });
        }
        Plan::Completions(shell) => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Line::command(), "platctl", &mut script);
            write(&mut out, &String::from_utf8_lossy(&script))?;
            return Ok(Outcome::Done);
        }
        Plan::Shell => return Err(Error::Other("this is the shell already".into())),
    };
    let text = if json {
        render::json(&answer)
    } else {
        render::human(&answer, view)
    };
    write(&mut out, &text)?;
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_search_line_is_known_by_its_words() {
        let words = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
        for (line, want) in [
            ("log search --v4 1.2.3.4:5", true),
            ("--json log search", true),
            ("--socket /run/x.sock log search --at 5", true),
            ("--socket=/run/x.sock log search", true),
            ("log", false),
            ("show log search", false),
            ("--socket log search", false),
        ] {
            assert_eq!(is_log_search(words(line).into_iter()), want, "{line}");
        }
    }
}
