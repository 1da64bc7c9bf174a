//! berth's nftables table: outbound NAT, published ports (DNAT), hairpin and loopback NAT, and
//! isolation between networks. The whole table is rebuilt from the current state in one atomic
//! nft transaction, so it never holds a half-applied change and restores itself on restart.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::Ipv4Addr;

use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField,
    Prefix, SetItem, CT,
};
use nftables::schema::{Chain, FlushObject, NfCmd, NfListObject, NfObject, Nftables, Rule, Table};
use nftables::stmt::{JumpTarget, Match, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use crate::error::{NetworkError, Result};
use crate::ports::Proto;
use crate::subnet::Subnet;

/// One bridge network as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRules {
    pub bridge: String,
    pub subnet: Subnet,
    /// No route out: no masquerade, and forwarding off the bridge is dropped.
    pub internal: bool,
    /// `com.docker.network.bridge.enable_ip_masquerade`.
    pub masquerade: bool,
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    pub proto: Proto,
    /// None: every host address.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

/// Everything the table is made from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallState {
    pub networks: Vec<BridgeRules>,
    pub ports: Vec<PortRule>,
}

const PORTS_CHAIN: &str = "ports";

fn s(v: impl Into<String>) -> Expression<'static> {
    Expression::String(Cow::Owned(v.into()))
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: Cow::Borrowed(protocol),
            field: Cow::Borrowed(field),
        },
    )))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn prefix(subnet: Subnet) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(s(subnet.addr().to_string())),
        len: u32::from(subnet.prefix()),
    }))
}

fn m(left: Expression<'static>, op: Operator, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn eq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    m(left, Operator::EQ, right)
}

fn ct(key: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: Cow::Borrowed(key),
        family: None,
        dir: None,
    }))
}

fn fib_type(flag: FibFlag) -> Expression<'static> {
    Expression::Named(NamedExpression::Fib(Fib {
        result: FibResult::Type,
        flags: HashSet::from([flag]),
    }))
}

fn masquerade() -> Statement<'static> {
    Statement::Masquerade(None)
}

/// The commands that replace the table's contents with `state`.
pub fn ruleset(table: &str, state: &FirewallState) -> Nftables<'static> {
    let table_name = table.to_string();
    let tbl = Table {
        family: NfFamily::IP,
        name: Cow::Owned(table_name.clone()),
        handle: None,
    };
    let chain = |name: &str, hook: Option<(NfChainType, NfHook, i32)>| Chain {
        family: NfFamily::IP,
        table: Cow::Owned(table_name.clone()),
        name: Cow::Owned(name.to_string()),
        _type: hook.map(|h| h.0),
        hook: hook.map(|h| h.1),
        prio: hook.map(|h| h.2),
        policy: hook.map(|_| NfChainPolicy::Accept),
        ..Chain::default()
    };
    let chains = [
        chain(
            "prerouting",
            Some((NfChainType::NAT, NfHook::Prerouting, -100)),
        ),
        chain("output", Some((NfChainType::NAT, NfHook::Output, -100))),
        chain(
            "postrouting",
            Some((NfChainType::NAT, NfHook::Postrouting, 100)),
        ),
        chain("forward", Some((NfChainType::Filter, NfHook::Forward, 0))),
        chain(PORTS_CHAIN, None),
    ];
    let mut objects: Vec<NfObject<'static>> = vec![NfObject::CmdObject(NfCmd::Add(
        NfListObject::Table(tbl.clone()),
    ))];
    for c in &chains {
        objects.push(NfObject::CmdObject(NfCmd::Add(NfListObject::Chain(
            c.clone(),
        ))));
    }
    objects.push(NfObject::CmdObject(NfCmd::Flush(FlushObject::Table(tbl))));
    let mut rule = |chain: &str, expr: Vec<Statement<'static>>| {
        objects.push(NfObject::CmdObject(NfCmd::Add(NfListObject::Rule(Rule {
            family: NfFamily::IP,
            table: Cow::Owned(table_name.clone()),
            chain: Cow::Owned(chain.to_string()),
            expr: Cow::Owned(expr),
            handle: None,
            index: None,
            comment: None,
        }))));
    };
    // Traffic to one of the host's own addresses may be for a published port.
    for c in ["prerouting", "output"] {
        rule(
            c,
            vec![
                eq(fib_type(FibFlag::Daddr), s("local")),
                Statement::Jump(JumpTarget {
                    target: Cow::Borrowed(PORTS_CHAIN),
                }),
            ],
        );
    }
    for p in &state.ports {
        let mut expr = Vec::new();
        if let Some(ip) = p.host_ip {
            expr.push(eq(payload("ip", "daddr"), s(ip.to_string())));
        }
        expr.push(eq(
            payload(p.proto.as_str(), "dport"),
            Expression::Number(u32::from(p.host_port)),
        ));
        expr.push(Statement::DNAT(Some(NAT {
            addr: Some(s(p.container_ip.to_string())),
            family: None,
            port: Some(Expression::Number(u32::from(p.container_port))),
            flags: None,
        })));
        rule(PORTS_CHAIN, expr);
    }
    let bridges: Vec<String> = state.networks.iter().map(|n| n.bridge.clone()).collect();
    for n in &state.networks {
        let br = || s(n.bridge.clone());
        if !n.internal && n.masquerade {
            rule(
                "postrouting",
                vec![
                    eq(payload("ip", "saddr"), prefix(n.subnet)),
                    m(meta(MetaKey::Oifname), Operator::NEQ, br()),
                    masquerade(),
                ],
            );
        }
        // The host's loopback talking to a published port: the container must answer the
        // bridge, not 127.0.0.1.
        rule(
            "postrouting",
            vec![
                eq(meta(MetaKey::Oifname), br()),
                eq(
                    payload("ip", "saddr"),
                    prefix(Subnet::containing(Ipv4Addr::LOCALHOST, 8)),
                ),
                masquerade(),
            ],
        );
        // Hairpin: a container reaching a published port of a container on its own bridge.
        rule(
            "postrouting",
            vec![
                eq(meta(MetaKey::Oifname), br()),
                eq(payload("ip", "saddr"), prefix(n.subnet)),
                eq(ct("status"), s("dnat")),
                masquerade(),
            ],
        );
        let others: Vec<SetItem<'static>> = bridges
            .iter()
            .filter(|b| **b != n.bridge)
            .map(|b| SetItem::Element(s(b.clone())))
            .collect();
        if !others.is_empty() {
            rule(
                "forward",
                vec![
                    eq(meta(MetaKey::Iifname), br()),
                    eq(
                        meta(MetaKey::Oifname),
                        Expression::Named(NamedExpression::Set(others)),
                    ),
                    Statement::Drop(None),
                ],
            );
        }
        if n.internal {
            rule(
                "forward",
                vec![
                    eq(meta(MetaKey::Iifname), br()),
                    m(meta(MetaKey::Oifname), Operator::NEQ, br()),
                    Statement::Drop(None),
                ],
            );
            rule(
                "forward",
                vec![
                    eq(meta(MetaKey::Oifname), br()),
                    m(meta(MetaKey::Iifname), Operator::NEQ, br()),
                    Statement::Drop(None),
                ],
            );
        }
    }
    Nftables {
        objects: Cow::Owned(objects),
    }
}

/// Replaces the table's contents with `state`, atomically.
pub fn apply(table: &str, state: &FirewallState) -> Result<()> {
    nftables::helper::apply_ruleset(&ruleset(table, state))
        .map_err(|e| NetworkError::Nftables(e.to_string()))
}

/// Deletes the table; a missing one is fine.
pub fn remove(table: &str) -> Result<()> {
    let del = Nftables {
        objects: Cow::Owned(vec![
            NfObject::CmdObject(NfCmd::Add(NfListObject::Table(Table {
                family: NfFamily::IP,
                name: Cow::Owned(table.to_string()),
                handle: None,
            }))),
            NfObject::CmdObject(NfCmd::Delete(NfListObject::Table(Table {
                family: NfFamily::IP,
                name: Cow::Owned(table.to_string()),
                handle: None,
            }))),
        ]),
    };
    nftables::helper::apply_ruleset(&del).map_err(|e| NetworkError::Nftables(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_nat_ports_and_isolation() {
        let state = FirewallState {
            networks: vec![
                BridgeRules {
                    bridge: "berth0".into(),
                    subnet: Subnet::parse("10.1.0.0/24").expect("s"),
                    internal: false,
                    masquerade: true,
                },
                BridgeRules {
                    bridge: "br-x".into(),
                    subnet: Subnet::parse("10.2.0.0/24").expect("s"),
                    internal: true,
                    masquerade: true,
                },
            ],
            ports: vec![PortRule {
                proto: Proto::Tcp,
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: 8080,
                container_ip: Ipv4Addr::new(10, 1, 0, 2),
                container_port: 80,
            }],
        };
        let json = serde_json::to_string(&ruleset("berth", &state)).expect("json");
        assert!(
            json.contains(r#""dnat":{"addr":"10.1.0.2","port":80}"#),
            "{json}"
        );
        assert!(json.contains(r#""right":"127.0.0.1""#), "{json}");
        assert!(json.contains(r#""right":{"set":["br-x"]}"#), "{json}");
        assert_eq!(json.matches(r#""masquerade""#).count(), 5, "{json}");
        assert_eq!(json.matches(r#""drop""#).count(), 4, "{json}");
    }
}
