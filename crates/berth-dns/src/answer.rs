//! Deciding, for one query from one container, whether the table answers it or it goes upstream.
//!
//! Pure logic over `hickory-proto` messages: no sockets here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use rand::seq::SliceRandom;

use crate::table::NameTable;

/// The TTL of locally answered records, as dockerd's resolver (`respTTL`).
pub const ANSWER_TTL: u32 = 600;

/// What to do with a message received on the server's socket.
#[derive(Debug)]
pub enum Outcome {
    /// Send this reply.
    Reply(Message),
    /// Not a local name: forward the query to the upstream resolvers.
    Forward,
    /// Not a query (a stray response): drop it silently.
    Ignore,
}

/// Answers `query` from the names visible to container `asker`, or says to forward it.
///
/// As dockerd: A/AAAA for a known name (an empty NOERROR reply when the name exists without an
/// address of that family, so it is not forwarded), PTR for a known address, an empty NOERROR
/// reply to MX for a known name ("implicit MX"), everything else forwarded.
pub fn answer(table: &NameTable, asker: &str, query: &Message) -> Outcome {
    if query.message_type() != MessageType::Query {
        return Outcome::Ignore;
    }
    if query.op_code() != OpCode::Query {
        return Outcome::Reply(error_reply(query, ResponseCode::NotImp));
    }
    let [question] = query.queries() else {
        return Outcome::Reply(error_reply(query, ResponseCode::FormErr));
    };
    if question.query_class() != DNSClass::IN {
        return Outcome::Forward;
    }
    let name = question.name();
    let records = match question.query_type() {
        RecordType::A | RecordType::AAAA | RecordType::MX => {
            let Some(addresses) = table.lookup_name(asker, &name.to_ascii()) else {
                return Outcome::Forward;
            };
            address_records(name, question.query_type(), addresses.ipv4, addresses.ipv6)
        }
        RecordType::PTR => {
            let Some(host) = reverse_address(name).and_then(|ip| table.lookup_address(asker, ip))
            else {
                return Outcome::Forward;
            };
            let Ok(mut target) = Name::from_ascii(&host) else {
                return Outcome::Forward;
            };
            target.set_fqdn(true);
            vec![Record::from_rdata(
                name.clone(),
                ANSWER_TTL,
                RData::PTR(PTR(target)),
            )]
        }
        _ => return Outcome::Forward,
    };
    let mut reply = reply_to(query);
    reply.add_answers(records);
    Outcome::Reply(reply)
}

/// Records for an A or AAAA question, in random order as dockerd (cheap load spreading over a
/// shared alias); none for MX or for a family the name has no address of.
fn address_records(
    name: &Name,
    query_type: RecordType,
    mut ipv4: Vec<Ipv4Addr>,
    mut ipv6: Vec<Ipv6Addr>,
) -> Vec<Record> {
    let mut rng = rand::thread_rng();
    match query_type {
        RecordType::A => {
            ipv4.shuffle(&mut rng);
            ipv4.into_iter()
                .map(|ip| Record::from_rdata(name.clone(), ANSWER_TTL, RData::A(A(ip))))
                .collect()
        }
        RecordType::AAAA => {
            ipv6.shuffle(&mut rng);
            ipv6.into_iter()
                .map(|ip| Record::from_rdata(name.clone(), ANSWER_TTL, RData::AAAA(AAAA(ip))))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// An empty reply to `query`: same id, question and RD flag, with recursion available.
pub fn reply_to(query: &Message) -> Message {
    let mut reply = Message::new();
    reply
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_checking_disabled(query.checking_disabled())
        .add_queries(query.queries().iter().cloned());
    reply
}

/// A reply to `query` carrying only an error code (SERVFAIL, FORMERR, ...).
pub fn error_reply(query: &Message, code: ResponseCode) -> Message {
    let mut reply = reply_to(query);
    reply.set_response_code(code);
    reply
}

/// The address a PTR question asks about: `d.c.b.a.in-addr.arpa.` or the 32 reversed nibbles
/// of an `ip6.arpa.` name. `None` for anything else (such as a partial network name).
pub fn reverse_address(name: &Name) -> Option<IpAddr> {
    let lower = name.to_ascii().to_ascii_lowercase();
    let lower = lower.strip_suffix('.').unwrap_or(&lower);
    if let Some(reversed) = lower.strip_suffix(".in-addr.arpa") {
        let mut octets = [0u8; 4];
        let labels: Vec<&str> = reversed.split('.').collect();
        let [d, c, b, a] = labels.as_slice() else {
            return None;
        };
        for (slot, label) in octets.iter_mut().zip([a, b, c, d]) {
            // Only canonical decimal: "01" is not an octet label.
            if label.is_empty() || (label.len() > 1 && label.starts_with('0')) {
                return None;
            }
            *slot = label.parse().ok()?;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    if let Some(reversed) = lower.strip_suffix(".ip6.arpa") {
        let nibbles: Vec<&str> = reversed.split('.').collect();
        if nibbles.len() != 32 {
            return None;
        }
        let mut value: u128 = 0;
        for nibble in nibbles.iter().rev() {
            let [digit] = nibble.as_bytes() else {
                return None;
            };
            let digit = char::from(*digit).to_digit(16)?;
            value = (value << 4) | u128::from(digit);
        }
        return Some(IpAddr::V6(Ipv6Addr::from(value)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Endpoint, NetworkRef};
    use hickory_proto::op::Query;

    const WEB: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const DB: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn table() -> NameTable {
        let table = NameTable::new();
        let app = NetworkRef {
            id: "n1".into(),
            name: "app".into(),
        };
        for (id, name, octet) in [(WEB, "web", 2), (DB, "db", 3)] {
            table
                .connect(
                    &app,
                    Endpoint {
                        container_id: id.into(),
                        name: name.into(),
                        aliases: vec![format!("{name}-alias")],
                        ipv4: Some(Ipv4Addr::new(172, 18, 0, octet)),
                        ipv6: (name == "db").then(|| "fd00::3".parse().unwrap()),
                    },
                )
                .unwrap();
        }
        table
    }

    fn query(name: &str, record_type: RecordType) -> Message {
        let mut message = Message::new();
        message
            .set_id(4242)
            .set_recursion_desired(true)
            .add_query(Query::query(Name::from_ascii(name).unwrap(), record_type));
        message
    }

    fn reply(outcome: Outcome) -> Message {
        match outcome {
            Outcome::Reply(message) => message,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn a_for_name_alias_and_short_id() {
        let table = table();
        for name in ["db", "DB.", "db-alias", "bbbbbbbbbbbb", "BBBBBBBBBBBB."] {
            let reply = reply(answer(&table, WEB, &query(name, RecordType::A)));
            assert_eq!(reply.id(), 4242);
            assert_eq!(reply.message_type(), MessageType::Response);
            assert_eq!(reply.response_code(), ResponseCode::NoError);
            assert!(reply.recursion_available());
            assert!(reply.recursion_desired());
            assert_eq!(reply.queries(), query(name, RecordType::A).queries());
            let [record] = reply.answers() else {
                panic!("one answer expected for {name}: {reply:?}")
            };
            assert_eq!(record.ttl(), ANSWER_TTL);
            assert_eq!(record.name().to_ascii(), name);
            assert_eq!(record.data(), &RData::A(A::new(172, 18, 0, 3)));
        }
    }

    #[test]
    fn aaaa_answers_or_is_empty_without_ipv6() {
        let table = table();
        let reply_db = reply(answer(&table, WEB, &query("db", RecordType::AAAA)));
        assert_eq!(
            reply_db.answers()[0].data(),
            &RData::AAAA(AAAA("fd00::3".parse().unwrap()))
        );
        // web exists but has no IPv6: NOERROR with no answer, never forwarded.
        let reply_web = reply(answer(&table, DB, &query("web", RecordType::AAAA)));
        assert_eq!(reply_web.response_code(), ResponseCode::NoError);
        assert!(reply_web.answers().is_empty());
    }

    #[test]
    fn mx_for_known_name_is_empty_success() {
        let reply = reply(answer(&table(), WEB, &query("db", RecordType::MX)));
        assert_eq!(reply.response_code(), ResponseCode::NoError);
        assert!(reply.answers().is_empty());
    }

    #[test]
    fn unknown_names_and_other_types_are_forwarded() {
        let table = table();
        for (name, record_type) in [
            ("example.com", RecordType::A),
            ("db", RecordType::TXT),
            ("db.app", RecordType::A),
            ("9.0.18.172.in-addr.arpa", RecordType::PTR),
            ("18.172.in-addr.arpa", RecordType::PTR),
        ] {
            assert!(
                matches!(
                    answer(&table, WEB, &query(name, record_type)),
                    Outcome::Forward
                ),
                "{name} {record_type}"
            );
        }
        // A container that is on no network sees no names.
        assert!(matches!(
            answer(&table, "cccccccccccc", &query("db", RecordType::A)),
            Outcome::Forward
        ));
    }

    #[test]
    fn ptr_for_ipv4_and_ipv6() {
        let table = table();
        let reply4 = reply(answer(
            &table,
            WEB,
            &query("3.0.18.172.in-addr.arpa.", RecordType::PTR),
        ));
        assert_eq!(reply4.answers()[0].ttl(), ANSWER_TTL);
        assert_eq!(
            reply4.answers()[0].data(),
            &RData::PTR(PTR(Name::from_ascii("db.app.").unwrap()))
        );
        let ip6 = "3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
        let reply6 = reply(answer(&table, WEB, &query(ip6, RecordType::PTR)));
        assert_eq!(
            reply6.answers()[0].data(),
            &RData::PTR(PTR(Name::from_ascii("db.app.").unwrap()))
        );
    }

    #[test]
    fn reverse_address_parses_only_full_addresses() {
        let parse = |s: &str| reverse_address(&Name::from_ascii(s).unwrap());
        assert_eq!(
            parse("4.3.2.1.IN-ADDR.ARPA."),
            Some("1.2.3.4".parse().unwrap())
        );
        assert_eq!(parse("3.2.1.in-addr.arpa."), None);
        assert_eq!(parse("256.3.2.1.in-addr.arpa."), None);
        assert_eq!(parse("04.3.2.1.in-addr.arpa."), None);
        assert_eq!(parse("1.0.ip6.arpa."), None);
        assert_eq!(parse("example.com."), None);
    }

    #[test]
    fn malformed_queries_get_errors_and_responses_are_ignored() {
        let table = table();
        let mut two = query("db", RecordType::A);
        two.add_query(Query::query(
            Name::from_ascii("web").unwrap(),
            RecordType::A,
        ));
        assert_eq!(
            reply(answer(&table, WEB, &two)).response_code(),
            ResponseCode::FormErr
        );
        let mut update = query("db", RecordType::A);
        update.set_op_code(OpCode::Update);
        assert_eq!(
            reply(answer(&table, WEB, &update)).response_code(),
            ResponseCode::NotImp
        );
        let mut stray = query("db", RecordType::A);
        stray.set_message_type(MessageType::Response);
        assert!(matches!(answer(&table, WEB, &stray), Outcome::Ignore));
    }
}
