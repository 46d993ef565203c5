//! `platctl log search`: reads the local event log's files here, with no
//! platd involved (the logs outlive the sessions and often the box).

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;

use plat_core::log::{Search, SearchQuery, SearchResult};

use crate::client::Error;

/// Reads every line of `files` (in any order) into one search.
pub fn run(query: SearchQuery, files: &[PathBuf]) -> Result<SearchResult, Error> {
    let mut search = Search::new(query);
    for path in files {
        let file_error = |source: io::Error| Error::File {
            path: path.clone(),
            source,
        };
        let mut r = BufReader::new(File::open(path).map_err(file_error)?);
        let mut line = Vec::new();
        loop {
            line.clear();
            if r.read_until(b'\n', &mut line).map_err(file_error)? == 0 {
                break;
            }
            // A torn or foreign line is a bad line, not the end of the file.
            search.line(&String::from_utf8_lossy(&line));
        }
    }
    Ok(search.finish())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::Ipv4Addr;

    use plat_core::log::{write_line, LogEvent};
    use plat_core::nat::{BibRec, Endpoint4, Endpoint6, Proto, Record};

    use super::*;

    #[test]
    fn files_in_any_order_and_a_missing_one_is_an_error() {
        let dir = std::env::temp_dir().join(format!("platctl-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bib = |port| BibRec {
            time: 0,
            proto: Proto::Udp,
            v6: Endpoint6::new("2001:db8::5".parse().unwrap(), 5353),
            v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), port),
            is_static: false,
        };
        let write = |name: &str, events: &[(u64, Record)], junk: &[u8]| {
            let mut out = Vec::new();
            for &(unix_ms, record) in events {
                write_line(
                    &LogEvent {
                        unix_ms,
                        worker: 0,
                        record,
                    },
                    false,
                    &mut out,
                );
            }
            out.extend_from_slice(junk);
            let p = dir.join(name);
            std::fs::File::create(&p).unwrap().write_all(&out).unwrap();
            p
        };
        let older = write(
            "nat.log.1",
            &[(1_000, Record::BibCreate(bib(2050)))],
            b"\xff\xfe torn\n",
        );
        let newer = write("nat.log", &[(9_000, Record::BibDelete(bib(2050)))], b"");
        let q = SearchQuery {
            v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), 2050),
            proto: None,
            at_ms: 5_000,
        };
        let r = run(q, &[newer.clone(), older]).unwrap();
        assert_eq!(r.holdings.len(), 1);
        assert_eq!(
            (r.holdings[0].from, r.holdings[0].until),
            (Some(1_000), Some(9_000))
        );
        assert_eq!((r.lines, r.bad_lines), (3, 1));
        let err = run(q, &[newer, dir.join("absent")]).unwrap_err();
        assert!(err.to_string().contains("absent"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
