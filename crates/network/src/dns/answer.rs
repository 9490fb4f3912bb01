//! Turning one DNS query into berth's own answer, or into "ask upstream".

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::names::NameTable;

/// Docker's embedded DNS answers with a TTL of 600 s.
const TTL: u32 = 600;

pub enum Reply {
    /// Our answer, encoded.
    Local(Vec<u8>),
    /// Not one of ours: forward the query bytes to the host's resolvers.
    Forward,
    /// Unparseable: drop it, as a resolver would.
    Drop,
}

pub fn answer(table: &NameTable, asker: &str, query: &[u8]) -> Reply {
    let Ok(msg) = Message::from_vec(query) else { return Reply::Drop };
    if msg.message_type() != MessageType::Query || msg.op_code() != OpCode::Query || msg.queries().len() != 1 {
        return Reply::Forward;
    }
    let q = &msg.queries()[0];
    let qname = q.name().to_ascii();
    let answers: Vec<Record> = match q.query_type() {
        RecordType::A => {
            let ips = table.lookup(asker, &qname);
            if ips.is_empty() {
                return Reply::Forward;
            }
            ips.into_iter().map(|ip| Record::from_rdata(q.name().clone(), TTL, RData::A(A(ip)))).collect()
        }
        // Known names have no IPv6 address: an empty NOERROR, so resolvers use the A.
        RecordType::AAAA => {
            if table.lookup(asker, &qname).is_empty() {
                return Reply::Forward;
            }
            vec![]
        }
        RecordType::PTR => {
            let Some(ip) = arpa_to_ipv4(q.name()) else { return Reply::Forward };
            let Some(name) = table.reverse(asker, ip) else { return Reply::Forward };
            let Ok(target) = Name::from_ascii(format!("{name}.")) else { return Reply::Forward };
            vec![Record::from_rdata(q.name().clone(), TTL, RData::PTR(PTR(target)))]
        }
        _ => return Reply::Forward,
    };
    let mut resp = Message::new();
    resp.set_id(msg.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_authoritative(true)
        .set_recursion_desired(msg.recursion_desired())
        .set_recursion_available(true)
        .set_response_code(ResponseCode::NoError)
        .add_query(q.clone());
    for a in answers {
        resp.add_answer(a);
    }
    match resp.to_vec() {
        Ok(v) => Reply::Local(v),
        Err(_) => Reply::Drop,
    }
}

/// A SERVFAIL for a query we could not forward.
pub fn servfail(query: &[u8]) -> Option<Vec<u8>> {
    let msg = Message::from_vec(query).ok()?;
    let mut resp = Message::new();
    resp.set_id(msg.id())
        .set_message_type(MessageType::Response)
        .set_op_code(msg.op_code())
        .set_recursion_desired(msg.recursion_desired())
        .set_recursion_available(true)
        .set_response_code(ResponseCode::ServFail);
    for q in msg.queries() {
        resp.add_query(q.clone());
    }
    resp.to_vec().ok()
}

fn arpa_to_ipv4(name: &Name) -> Option<Ipv4Addr> {
    let mut n = name.clone();
    n.set_fqdn(true);
    match n.parse_arpa_name().ok()?.addr() {
        IpAddr::V4(ip) => Some(ip),
        IpAddr::V6(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::names::NameRecord;
    use hickory_proto::op::Query;

    fn query(name: &str, t: RecordType) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(77).set_recursion_desired(true).add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        m.to_vec().unwrap()
    }

    fn table() -> NameTable {
        let mut t = NameTable::default();
        t.register(NameRecord { container_id: "a".into(), network_id: "n".into(), network_name: "n".into(), ip: [10, 0, 0, 2].into(), names: vec!["web".into()] });
        t.register(NameRecord { container_id: "b".into(), network_id: "n".into(), network_name: "n".into(), ip: [10, 0, 0, 3].into(), names: vec!["db".into()] });
        t
    }

    #[test]
    fn a_aaaa_ptr_and_forward() {
        let t = table();
        let Reply::Local(r) = answer(&t, "b", &query("web.", RecordType::A)) else { panic!("expected local") };
        let r = Message::from_vec(&r).unwrap();
        assert_eq!(r.id(), 77);
        assert_eq!(r.answers().len(), 1);
        assert_eq!(r.answers()[0].data(), &RData::A(A(Ipv4Addr::new(10, 0, 0, 2))));

        let Reply::Local(r) = answer(&t, "b", &query("web.", RecordType::AAAA)) else { panic!() };
        let r = Message::from_vec(&r).unwrap();
        assert_eq!((r.response_code(), r.answers().len()), (ResponseCode::NoError, 0));

        let Reply::Local(r) = answer(&t, "b", &query("2.0.0.10.in-addr.arpa.", RecordType::PTR)) else { panic!() };
        let r = Message::from_vec(&r).unwrap();
        assert_eq!(r.answers()[0].data(), &RData::PTR(PTR(Name::from_ascii("web.").unwrap())));

        assert!(matches!(answer(&t, "b", &query("example.org.", RecordType::A)), Reply::Forward));
        assert!(matches!(answer(&t, "b", b"garbage"), Reply::Drop));
        assert!(servfail(&query("example.org.", RecordType::A)).is_some());
    }
}
