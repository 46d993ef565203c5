use super::*;

#[test]
fn rfc8158_4_1_1_nat_event_values_are_the_registry_s() {
    let codes: Vec<u8> = NatEvent::ALL.iter().map(|e| e.code()).collect();
    assert_eq!(codes, [3, 6, 7, 10, 11, 12, 13, 16, 17]);
    let creates: Vec<NatEvent> = NatEvent::ALL
        .into_iter()
        .filter(|e| e.is_create())
        .collect();
    assert_eq!(
        creates,
        [
            NatEvent::SessionCreate,
            NatEvent::BibCreate,
            NatEvent::BlockAlloc
        ]
    );
}
