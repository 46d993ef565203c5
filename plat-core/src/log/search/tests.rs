use super::*;
use crate::log::{write_line, LogEvent};
use crate::nat::{BibRec, BlockRec, Record, SessionRec, TcpState};

/// 2026-12-05T07:00:00Z.
const T: u64 = 1_796_454_000_000;
const MIN: u64 = 60_000;

fn a() -> Endpoint6 {
    Endpoint6::new("2001:db8:0:100::5".parse().unwrap(), 40000)
}

fn b() -> Endpoint6 {
    Endpoint6::new("2001:db8:0:200::7".parse().unwrap(), 51000)
}

fn pool(port: u16) -> Endpoint4 {
    Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), port)
}

fn bib(v6: Endpoint6, port: u16) -> BibRec {
    BibRec {
        time: 0,
        proto: Proto::Tcp,
        v6,
        v4: pool(port),
        is_static: false,
    }
}

fn session(v6: Endpoint6, port: u16, remote: u8) -> SessionRec {
    SessionRec {
        time: 0,
        proto: Proto::Udp,
        v6,
        v4: pool(port),
        remote: Endpoint4::new(Ipv4Addr::new(198, 51, 100, remote), 53),
        state: TcpState::Closed,
    }
}

fn block(sub: &str, first: u16) -> BlockRec {
    BlockRec {
        time: 0,
        proto: Proto::Udp,
        subscriber: sub.parse().unwrap(),
        prefix_len: 56,
        v4: Ipv4Addr::new(192, 0, 2, 1),
        block: 0,
        first,
        last: first + 127,
        size: 128,
    }
}

/// A log file's text.
fn file(events: &[(u64, Record)], dest: bool) -> String {
    let mut out = Vec::new();
    for &(unix_ms, record) in events {
        write_line(
            &LogEvent {
                unix_ms,
                worker: 1,
                record,
            },
            dest,
            &mut out,
        );
    }
    String::from_utf8(out).unwrap()
}

fn search(files: &[&str], v4: Endpoint4, proto: Option<Proto>, at_ms: u64) -> SearchResult {
    let mut s = Search::new(SearchQuery { v4, proto, at_ms });
    for f in files {
        for l in f.lines() {
            s.line(l);
        }
    }
    s.finish()
}

/// A holding in short: what, whose, from, until.
type Who = (HoldingKind, Option<Endpoint6>, Option<u64>, Option<u64>);

fn who(r: &SearchResult) -> Vec<Who> {
    r.holdings
        .iter()
        .map(|h| (h.kind, h.v6, h.from, h.until))
        .collect()
}

#[test]
fn rfc6888_req_12_search_across_two_shuffled_files_with_a_rotation_boundary() {
    // nat.log.1 (older): A takes 192.0.2.1:2050, among unrelated lines.
    let older = file(
        &[
            (T, Record::BibCreate(bib(b(), 3000))),
            (T + MIN, Record::BibCreate(bib(a(), 2050))),
            // A session of A's BIB entry: the BIB entry answers for it.
            (
                T + 2 * MIN,
                Record::SessionCreate(SessionRec {
                    proto: Proto::Tcp,
                    ..session(a(), 2050, 7)
                }),
            ),
        ],
        false,
    );
    // nat.log (newer, rotated at T + 5 min): A lets it go, B takes it.
    let newer = file(
        &[
            (T + 5 * MIN, Record::BibDelete(bib(b(), 3000))),
            (T + 10 * MIN, Record::BibDelete(bib(a(), 2050))),
            (T + 12 * MIN, Record::BibCreate(bib(b(), 2050))),
        ],
        false,
    );
    // The files in any order: the answers do not change.
    for files in [[&*newer, &*older], [&*older, &*newer]] {
        let r = search(&files, pool(2050), None, T + 7 * MIN);
        assert_eq!(
            who(&r),
            [(
                HoldingKind::Bib,
                Some(a()),
                Some(T + MIN),
                Some(T + 10 * MIN)
            )],
            "across the boundary"
        );
        assert_eq!((r.lines, r.bad_lines), (6, 0));
        assert_eq!((r.first_line, r.last_line), (Some(T), Some(T + 12 * MIN)));
        // The delete's own millisecond still belongs to A.
        let r = search(&files, pool(2050), Some(Proto::Tcp), T + 10 * MIN);
        assert_eq!(r.holdings.len(), 1);
        assert_eq!(r.holdings[0].v6, Some(a()));
        // Nobody between A and B.
        assert!(search(&files, pool(2050), None, T + 11 * MIN)
            .holdings
            .is_empty());
        // B from T + 12 min on, open-ended.
        let r = search(&files, pool(2050), None, T + 600 * MIN);
        assert_eq!(
            who(&r),
            [(HoldingKind::Bib, Some(b()), Some(T + 12 * MIN), None)]
        );
        // Another protocol, or before A: nobody.
        assert!(search(&files, pool(2050), Some(Proto::Udp), T + 7 * MIN)
            .holdings
            .is_empty());
        assert!(search(&files, pool(2050), None, T + MIN / 2)
            .holdings
            .is_empty());
    }
}

#[test]
fn rfc6888_req_14_block_search_finds_the_block_that_holds_the_port() {
    let log = file(
        &[
            (T, Record::BlockAlloc(block("2001:db8:0:100::", 2048))),
            (T + MIN, Record::BlockAlloc(block("2001:db8:0:200::", 2176))),
            (
                T + 30 * MIN,
                Record::BlockFree(block("2001:db8:0:100::", 2048)),
            ),
            (
                T + 31 * MIN,
                Record::BlockAlloc(block("2001:db8:0:300::", 2048)),
            ),
        ],
        false,
    );
    let r = search(&[&log], pool(2100), None, T + 10 * MIN);
    assert_eq!(r.holdings.len(), 1);
    let h = &r.holdings[0];
    assert_eq!(h.kind, HoldingKind::Block);
    assert_eq!(h.subscriber, Some("2001:db8:0:100::".parse().unwrap()));
    assert_eq!((h.prefix_len, h.first, h.last), (Some(56), 2048, 2175));
    assert_eq!((h.from, h.until), (Some(T), Some(T + 30 * MIN)));
    // The block's edges, the next block, the next holder of the range.
    assert_eq!(
        search(&[&log], pool(2175), None, T + 10 * MIN)
            .holdings
            .len(),
        1
    );
    let next = search(&[&log], pool(2176), None, T + 10 * MIN);
    assert_eq!(
        next.holdings[0].subscriber,
        Some("2001:db8:0:200::".parse().unwrap())
    );
    let later = search(&[&log], pool(2048), Some(Proto::Udp), T + 40 * MIN);
    assert_eq!(
        later.holdings[0].subscriber,
        Some("2001:db8:0:300::".parse().unwrap())
    );
    assert!(search(&[&log], pool(2100), Some(Proto::Tcp), T + 10 * MIN)
        .holdings
        .is_empty());
    assert!(search(&[&log], pool(4000), None, T + 10 * MIN)
        .holdings
        .is_empty());
}

#[test]
fn sessions_answer_when_the_files_have_no_bib_entry_on_the_port() {
    let log = file(
        &[
            (T, Record::SessionCreate(session(a(), 2050, 7))),
            (T + MIN, Record::SessionCreate(session(a(), 2050, 8))),
            (T + 2 * MIN, Record::SessionDelete(session(a(), 2050, 7))),
            (T + 4 * MIN, Record::SessionDelete(session(a(), 2050, 8))),
        ],
        true,
    );
    let r = search(&[&log], pool(2050), None, T + 3 * MIN);
    assert_eq!(
        who(&r),
        [(
            HoldingKind::Session,
            Some(a()),
            Some(T + MIN),
            Some(T + 4 * MIN)
        )]
    );
    assert_eq!(
        r.holdings[0].remote,
        Some(Endpoint4::new(Ipv4Addr::new(198, 51, 100, 8), 53))
    );
    // Both sessions at once.
    assert_eq!(
        search(&[&log], pool(2050), None, T + 90_000).holdings.len(),
        2
    );
    // Without destinations the two sessions share a key: their union.
    let plain = file(
        &[
            (T, Record::SessionCreate(session(a(), 2050, 7))),
            (T + MIN, Record::SessionCreate(session(a(), 2050, 8))),
            (T + 2 * MIN, Record::SessionDelete(session(a(), 2050, 7))),
            (T + 4 * MIN, Record::SessionDelete(session(a(), 2050, 8))),
        ],
        false,
    );
    for at in [T, T + 3 * MIN, T + 4 * MIN] {
        let r = search(&[&plain], pool(2050), None, at);
        assert!(!r.holdings.is_empty(), "{at}");
        assert!(r.holdings.iter().all(|h| h.v6 == Some(a())));
    }
    assert!(search(&[&plain], pool(2050), None, T + 5 * MIN)
        .holdings
        .is_empty());
}

#[test]
fn bad_lines_are_counted_and_skipped() {
    let mut log = file(&[(T, Record::BibCreate(bib(a(), 2050)))], false);
    log += "not json\n\n{\"time\":\"2026-12-05T07:00:00Z\"}\n";
    // A BIB line without its pool port.
    log += &file(&[(T, Record::BibCreate(bib(b(), 2051)))], false).replace(",\"v4_port\":2051", "");
    log += "{\"truncated\": \n";
    let r = search(&[&log], pool(2050), None, T + MIN);
    assert_eq!((r.lines, r.bad_lines), (5, 4));
    assert_eq!(who(&r), [(HoldingKind::Bib, Some(a()), Some(T), None)]);
}

#[test]
fn a_lost_delete_ends_where_the_next_holder_starts_and_an_earlier_create_where_the_files_start() {
    // A's delete was lost; B took the port at T + 10 min.
    let log = file(
        &[
            (T + MIN, Record::BibDelete(bib(b(), 2050))),
            (T + 2 * MIN, Record::BibCreate(bib(a(), 2050))),
            (T + 10 * MIN, Record::BibCreate(bib(b(), 2050))),
        ],
        false,
    );
    let r = search(&[&log], pool(2050), None, T + 5 * MIN);
    assert_eq!(
        who(&r),
        [(
            HoldingKind::Bib,
            Some(a()),
            Some(T + 2 * MIN),
            Some(T + 10 * MIN)
        )]
    );
    assert!(r.holdings[0].until_inferred);
    // B held it before the files began: known from the first line on.
    let r = search(&[&log], pool(2050), None, T + MIN);
    assert_eq!(
        who(&r),
        [(HoldingKind::Bib, Some(b()), None, Some(T + MIN))]
    );
    assert!(
        search(&[&log], pool(2050), None, T).holdings.is_empty(),
        "before the files"
    );
}

#[test]
fn a_result_reads_back_from_json() {
    let log = file(
        &[(T, Record::BlockAlloc(block("2001:db8:0:100::", 2048)))],
        false,
    );
    let r = search(&[&log], pool(2048), None, T);
    let text = serde_json::to_string(&r).unwrap();
    assert!(
        text.contains("\"from\":\"2026-12-05T07:00:00.000Z\""),
        "{text}"
    );
    assert!(text.contains("\"until\":null"), "{text}");
    assert_eq!(serde_json::from_str::<SearchResult>(&text).unwrap(), r);
}
