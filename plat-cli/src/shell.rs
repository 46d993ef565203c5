//! The interactive shell: each line is split into words like a shell
//! would and parsed by the one-shot grammar; rustyline edits the line,
//! keeps the history across runs and completes the grammar's words and
//! what platd knows (worker numbers, pool4 addresses), asked once.

use std::borrow::Cow;
use std::path::PathBuf;

use clap::CommandFactory;
use clap::Parser;
use plat_core::api::{Answer, Command};
use plat_core::nat::{Proto, TcpState};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};

use crate::client::{Client, Error};
use crate::grammar::{state_word, Cmd, Line};
use crate::render::Table;

const PROMPT: &str = "platctl> ";

/// Lines kept in the history file.
const HISTORY_LINES: usize = 1000;

/// What platd was asked once for completion.
#[derive(Debug, Default)]
pub struct Cache {
    pub workers: Vec<String>,
    /// pool4 entries as configured (`192.0.2.0/28`), for `pool4 remove`.
    pub pool4_prefixes: Vec<String>,
    /// Every pool4 address, for `--v4`.
    pub pool4_addrs: Vec<String>,
}

impl Cache {
    fn fill(&mut self, client: &mut Client) -> Result<(), Error> {
        if let Answer::Workers(w) = client.ask(Command::ShowWorkers)? {
            self.workers = w.iter().map(|w| w.worker.to_string()).collect();
        }
        self.fill_pool4(client)
    }

    fn fill_pool4(&mut self, client: &mut Client) -> Result<(), Error> {
        if let Answer::Pool4(p) = client.ask(Command::ShowPool4)? {
            self.pool4_prefixes = p
                .entries
                .iter()
                .map(|e| format!("{}/{}", e.prefix, e.prefix_len))
                .collect();
            self.pool4_addrs = p.addrs.iter().map(|u| u.addr.to_string()).collect();
        }
        Ok(())
    }
}

/// Runs the shell until `exit`, `quit` or Ctrl-D.
pub fn run(client: &mut Client, json: bool) -> Result<(), Error> {
    let mut cache = Cache::default();
    if let Err(e) = cache.fill(client) {
        eprintln!("error: {e}");
    }
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .max_history_size(HISTORY_LINES)
        .map_err(terminal)?
        .build();
    let mut editor: Editor<Completion, FileHistory> =
        Editor::with_config(config).map_err(terminal)?;
    editor.set_helper(Some(Completion::new(cache)));
    let history = history_path();
    if let Some(h) = &history {
        // A first run has no history yet.
        let _ = editor.load_history(h);
    }
    loop {
        let text = match editor.readline(PROMPT) {
            Ok(t) => t,
            // Ctrl-C drops the line being typed, as in a shell.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(()),
            Err(e) => return Err(terminal(e)),
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(text);
        if let Some(h) = &history {
            if let Err(e) = editor.append_history(h) {
                eprintln!("error: saving the history in {}: {e}", h.display());
            }
        }
        let Some(words) = shlex::split(text) else {
            eprintln!("error: a quote is not closed");
            continue;
        };
        match words.first().map(String::as_str) {
            // A comment, or only quotes.
            None | Some("") => {}
            Some("exit" | "quit") => return Ok(()),
            Some("help" | "?") if words.len() == 1 => print!("{}", help()),
            _ => {
                let cmd = one_line(client, words, json);
                if let Some(Cmd::Pool4(_)) = cmd {
                    if let Some(c) = editor.helper_mut() {
                        let _ = c.cache.fill_pool4(client);
                    }
                }
            }
        }
    }
}

/// Parses and runs one line, printing its errors; returns the command
/// when it ran well.
fn one_line(client: &mut Client, mut words: Vec<String>, json: bool) -> Option<Cmd> {
    if let Some(w) = words.first_mut().filter(|w| *w == "?") {
        *w = "help".to_string();
    }
    let line = match Line::try_parse_from(std::iter::once("platctl".to_string()).chain(words)) {
        Ok(l) => l,
        Err(e) => {
            // Help goes to stdout, errors to stderr, as in one-shot mode.
            let _ = e.print();
            return None;
        }
    };
    if line.socket.is_some() {
        eprintln!("error: --socket is given when platctl starts, not in the shell");
        return None;
    }
    let cmd = line.command?;
    match crate::execute(client, &cmd.plan(), json || line.json) {
        Ok(_) => Some(cmd),
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

fn terminal(e: ReadlineError) -> Error {
    Error::Other(format!("the terminal: {e}"))
}

/// `$PLATCTL_HISTORY` (empty: no history), else `~/.platctl_history`.
fn history_path() -> Option<PathBuf> {
    match std::env::var_os("PLATCTL_HISTORY") {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(p.into()),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".platctl_history")),
    }
}

/// Top-level words of the shell that are not commands of the grammar.
const SHELL_WORDS: [(&str, &str); 2] = [
    ("help [COMMAND]", "This list, or a command's flags"),
    ("exit, quit", "Leave the shell (Ctrl-D too)"),
];

/// Every command with its one-line help.
fn help() -> String {
    fn leaves(cmd: &clap::Command, path: &str, t: &mut Table) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "shell") {
            let name = format!("{path}{}", sub.get_name());
            if sub.has_subcommands() {
                leaves(sub, &format!("{name} "), t);
                continue;
            }
            let args: String = sub
                .get_positionals()
                .map(|a| match a.get_value_names() {
                    Some([name, ..]) => format!(" {name}"),
                    _ => format!(" {}", a.get_id().as_str().to_ascii_uppercase()),
                })
                .collect();
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            t.row([format!("{name}{args}"), about]);
        }
    }
    let mut t = Table::new(&["COMMAND", "WHAT IT DOES"]);
    leaves(&Line::command(), "", &mut t);
    for (w, about) in SHELL_WORDS {
        t.row([w, about]);
    }
    t.to_string()
}

/// rustyline's helper: completion only (no hints, no colours).
#[derive(Debug)]
pub struct Completion {
    /// The grammar, built so that globals and `help` are in every command.
    tree: clap::Command,
    cache: Cache,
}

impl Completion {
    pub fn new(cache: Cache) -> Completion {
        let mut tree = Line::command();
        tree.build();
        Completion { tree, cache }
    }

    /// Where the word before the cursor starts and the words it may
    /// become: at every level the commands, after `-` the flags, after
    /// a flag its values.
    pub fn complete(&self, line: &str) -> (usize, Vec<String>) {
        let start = line.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let (done, word) = line.split_at(start);
        let mut cmd = &self.tree;
        let mut path = Vec::new();
        let mut value_of = None;
        let mut used = Vec::new();
        let mut positionals = 0;
        for w in done.split_whitespace() {
            if value_of.take().is_some() {
                continue;
            }
            if let Some(flag) = w.strip_prefix("--") {
                let (name, inline) = flag
                    .split_once('=')
                    .map_or((flag, false), |(n, _)| (n, true));
                used.push(name);
                let arg = cmd.get_arguments().find(|a| a.get_long() == Some(name));
                if arg.is_some_and(|a| !inline && a.get_action().takes_values()) {
                    value_of = Some(name);
                }
            } else if let Some(sub) = cmd.find_subcommand(w) {
                cmd = sub;
                path.push(w);
            } else {
                positionals += 1;
            }
        }
        let mut words: Vec<String> = if let Some(flag) = value_of {
            self.values(flag)
        } else if word.starts_with('-') {
            let mut flags: Vec<String> = cmd
                .get_arguments()
                .filter(|a| !a.is_hide_set())
                .filter_map(|a| a.get_long())
                // The socket is chosen when platctl starts.
                .filter(|l| *l != "socket" && !used.contains(l))
                .map(|l| format!("--{l}"))
                .collect();
            flags.sort();
            flags
        } else if cmd.has_subcommands() {
            // `shell` is where we are; `help` is the shell's, at the top.
            let not_here = if path.is_empty() { "shell" } else { "help" };
            let mut subs: Vec<String> = cmd
                .get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(|s| s.get_name())
                .filter(|n| *n != not_here)
                .chain(
                    path.is_empty()
                        .then_some(["exit", "quit"])
                        .into_iter()
                        .flatten(),
                )
                .map(str::to_string)
                .collect();
            subs.sort();
            subs
        } else if path == ["pool4", "remove"] && positionals == 0 {
            self.cache.pool4_prefixes.clone()
        } else if path == ["who"] && positionals == 0 {
            // The port is the operator's to type.
            self.cache
                .pool4_addrs
                .iter()
                .map(|a| format!("{a}:"))
                .collect()
        } else if path == ["log", "search"] {
            files(word)
        } else {
            Vec::new()
        };
        words.retain(|w| w.starts_with(word));
        (start, words)
    }

    /// What may follow `--flag`.
    fn values(&self, flag: &str) -> Vec<String> {
        match flag {
            "proto" => Proto::ALL.map(|p| p.name().to_string()).to_vec(),
            "state" => TcpState::ALL.map(state_word).to_vec(),
            "worker" => self.cache.workers.clone(),
            "v4" => self.cache.pool4_addrs.clone(),
            _ => Vec::new(),
        }
    }
}

/// The files and folders whose path starts with `word` (hidden ones only
/// when asked for with a `.`); a folder ends in `/`.
fn files(word: &str) -> Vec<String> {
    let (dir, base) = match word.rfind('/') {
        Some(i) => word.split_at(i + 1),
        None => ("", word),
    };
    let Ok(entries) = std::fs::read_dir(if dir.is_empty() { "." } else { dir }) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            if !name.starts_with(base) || (name.starts_with('.') && !base.starts_with('.')) {
                return None;
            }
            let slash = if e.file_type().ok()?.is_dir() {
                "/"
            } else {
                ""
            };
            Some(format!("{dir}{name}{slash}"))
        })
        .collect();
    names.sort();
    names
}

impl Completer for Completion {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, words) = Completion::complete(self, &line[..pos]);
        let pairs = words
            .into_iter()
            .map(|w| Pair {
                // A folder or an address goes on being typed.
                replacement: if w.ends_with(['/', ':']) {
                    w.clone()
                } else {
                    format!("{w} ")
                },
                display: w,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for Completion {
    type Hint = String;
}

impl Highlighter for Completion {
    fn highlight<'l>(&self, line: &'l str, _: usize) -> Cow<'l, str> {
        Cow::Borrowed(line)
    }
}

impl Validator for Completion {}

impl Helper for Completion {}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell() -> Completion {
        Completion::new(Cache {
            workers: vec!["0".into(), "1".into()],
            pool4_prefixes: vec!["192.0.2.0/30".into(), "198.51.100.7/32".into()],
            pool4_addrs: vec!["192.0.2.0".into(), "192.0.2.1".into()],
        })
    }

    fn complete(line: &str) -> (usize, Vec<String>) {
        shell().complete(line)
    }

    #[test]
    fn commands_complete_at_every_level() {
        assert_eq!(complete("sh"), (0, vec!["show".into()]));
        assert_eq!(
            complete("show s"),
            (
                5,
                ["sessions", "stats", "subscriber", "summary"]
                    .map(String::from)
                    .to_vec()
            )
        );
        assert_eq!(
            complete("show su"),
            (5, vec!["subscriber".into(), "summary".into()])
        );
        assert_eq!(complete("pool4 r"), (6, vec!["remove".into()]));
        assert_eq!(
            complete("config "),
            (7, vec!["check".into(), "reload".into()])
        );
        let (_, top) = complete("");
        for w in [
            "show", "watch", "pool4", "config", "session", "who", "help", "exit", "quit",
        ] {
            assert!(top.contains(&w.to_string()), "{w}: {top:?}");
        }
        assert!(!top.contains(&"shell".to_string()));
    }

    #[test]
    fn flags_complete_once_each() {
        let (start, flags) = complete("show sessions --proto tcp --");
        assert_eq!(start, 26);
        for f in [
            "--v6", "--v4", "--port", "--state", "--limit", "--all", "--count", "--json",
        ] {
            assert!(flags.contains(&f.to_string()), "{f}: {flags:?}");
        }
        assert!(!flags.contains(&"--proto".to_string()));
        assert!(!flags.contains(&"--socket".to_string()));
        assert_eq!(complete("show stats --w").1, vec!["--worker".to_string()]);
        assert_eq!(
            complete("watch stats --i").1,
            ["--interval-ms", "--iterations"].map(String::from)
        );
    }

    #[test]
    fn flag_values_complete_from_the_grammar_and_from_platd() {
        assert_eq!(
            complete("show sessions --proto ").1,
            ["tcp", "udp", "icmp"].map(String::from)
        );
        assert_eq!(
            complete("show sessions --proto u").1,
            vec!["udp".to_string()]
        );
        assert_eq!(
            complete("show stats --worker ").1,
            ["0", "1"].map(String::from)
        );
        assert_eq!(
            complete("show stats --worker 1 --r").1,
            vec!["--rates".to_string()]
        );
        let (_, states) = complete("session clear --state v");
        assert!(
            states.contains(&"v6-fin-v4-fin-rcv".to_string()),
            "{states:?}"
        );
        assert!(states.iter().all(|s| s.starts_with('v')));
        assert_eq!(
            complete("show bib --v4 192.0.2.").1,
            ["192.0.2.0", "192.0.2.1"].map(String::from)
        );
    }

    #[test]
    fn pool4_remove_completes_the_configured_entries_once() {
        assert_eq!(
            complete("pool4 remove ").1,
            ["192.0.2.0/30", "198.51.100.7/32"].map(String::from)
        );
        assert_eq!(
            complete("pool4 remove 198").1,
            vec!["198.51.100.7/32".to_string()]
        );
        assert!(complete("pool4 remove 192.0.2.0/30 ").1.is_empty());
    }

    #[test]
    fn who_completes_pool4_addresses_and_log_search_files() {
        assert_eq!(
            complete("who 192.0.2.").1,
            ["192.0.2.0:", "192.0.2.1:"].map(String::from)
        );
        assert!(complete("who 192.0.2.1:80 ").1.is_empty());
        assert_eq!(
            complete("who 192.0.2.1:80 --proto t").1,
            vec!["tcp".to_string()]
        );
        assert_eq!(complete("log s").1, vec!["search".to_string()]);
        let dir = std::env::temp_dir().join(format!("platctl-complete-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("old")).unwrap();
        for f in ["nat.log", "nat.log.1", ".hidden"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let d = dir.to_string_lossy();
        let (_, got) = complete(&format!("log search --v4 192.0.2.1:80 {d}/"));
        assert_eq!(
            got,
            [".../nat.log", ".../nat.log.1", ".../old/"].map(|f| f.replace("...", &d))
        );
        let (_, got) = complete(&format!("log search {d}/nat.log.1 {d}/nat.log."));
        assert_eq!(got, vec![format!("{d}/nat.log.1")]);
        let (_, flags) = complete("log search --");
        assert_eq!(
            flags,
            ["--at", "--help", "--json", "--proto", "--v4"].map(String::from)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn help_lists_every_command_with_its_line() {
        let text = help();
        for want in [
            "show summary",
            "show subscriber ADDR",
            "pool4 add PREFIX",
            "pool4 remove PREFIX",
            "config check FILE",
            "session clear",
            "watch stats",
            "who ADDRESS:PORT",
            "log search FILES",
            "Every counter, in total and per worker",
            "exit, quit",
        ] {
            assert!(text.contains(want), "`{want}` missing:\n{text}");
        }
        assert!(!text.lines().any(|l| l.starts_with("shell")), "{text}");
    }
}
