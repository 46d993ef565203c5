//! platctl: one-shot commands and an interactive shell over platd's
//! management socket.

mod client;
mod grammar;
mod render;
mod shell;
mod watch;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use plat_core::api::Command;

use client::{Client, Error};
use grammar::{Cmd, Line, Plan, View, DEFAULT_SOCKET};

fn main() -> ExitCode {
    let line = match Line::try_parse() {
        Ok(l) => l,
        // Every failure exits 1, a usage error too (clap's own would be 2).
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let mut client = Client::new(line.socket.unwrap_or_else(|| DEFAULT_SOCKET.into()));
    let done = match line.command.as_ref().map_or(Plan::Shell, Cmd::plan) {
        Plan::Shell => shell::run(&mut client, line.json),
        plan => execute(&mut client, &plan, line.json),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        // `platctl show sessions | head` is not an error.
        Err(Error::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one command, printing its answer on stdout.
pub fn execute(client: &mut Client, plan: &Plan, json: bool) -> Result<(), Error> {
    let mut out = io::stdout().lock();
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
            return watch::run(client, *every, *iterations, json, clear, &mut out);
        }
        Plan::Shell => return Err(Error::Other("this is the shell already".into())),
    };
    let text = if json {
        render::json(&answer)
    } else {
        render::human(&answer, view)
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}
