//! The name resolution rule, free of I/O: what a cloud name means against a cloud list and a
//! set of DNS answers. The table in `docs/clouds.md` describes it.

use std::time::Duration;

use crate::cloud::Cloud;
use crate::error::{NoCloudCause, PnrpError, Result};
use crate::name::CloudName;

/// What a name means against the local cloud list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalMatch<'a> {
    /// Rules 1 to 3 chose this cloud.
    Found(&'a Cloud),
    /// A DNS name that names no local cloud: rule 4 decides, with DNS.
    NeedsDns,
}

/// Where a cloud name comes from, which decides whether rule 3 applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameOrigin {
    /// Typed or passed by the caller now (`pwzCloud` of `PeerGroupOpen`, `--cloud`): an
    /// interface name means exactly that interface; none here is "no cloud".
    Caller,
    /// Read from the group's stored properties, possibly made on another host: an interface
    /// name that matches no cloud here falls back to its scope (rule 3).
    Stored,
}

/// Applies rules 1 to 3 to a parsed name (rule 5 is [`CloudName::parse`]):
///
/// 1. a cloud whose name is exactly `name` is chosen;
/// 2. a bare scope name (`LinkLocal_`, `SiteLocal_`, `Global_`) chooses the single cloud of
///    that scope;
/// 3. an interface name that matches no cloud here falls back to its scope, as in rule 2,
///    when the name is [`NameOrigin::Stored`] (it was made on another host, or its interface
///    is gone); a name the caller passed is exact, and no such interface is
///    [`NoCloudCause::NoSuchInterface`], listing this host's clouds.
///
/// No cloud is [`PnrpError::NoCloud`], several are [`PnrpError::Ambiguous`] (listing them).
pub fn select<'a>(name: &CloudName, origin: NameOrigin, clouds: &'a [Cloud]) -> Result<LocalMatch<'a>> {
    let mut exact = clouds.iter().filter(|c| c.name == *name);
    if let Some(first) = exact.next() {
        return match exact.next() {
            None => Ok(LocalMatch::Found(first)),
            Some(_) => Err(ambiguous(name, clouds.iter().filter(|c| c.name == *name))),
        };
    }
    let Some(scope) = name.scope() else {
        return Ok(LocalMatch::NeedsDns);
    };
    if origin == NameOrigin::Caller && !name.is_bare() {
        let clouds = clouds.iter().map(|c| c.name.to_string()).collect();
        return Err(PnrpError::NoCloud { name: name.to_string(), cause: NoCloudCause::NoSuchInterface { clouds } });
    }
    let mut of_scope = clouds.iter().filter(|c| c.scope == scope);
    match (of_scope.next(), of_scope.next()) {
        (Some(only), None) => Ok(LocalMatch::Found(only)),
        (Some(_), Some(_)) => Err(ambiguous(name, clouds.iter().filter(|c| c.scope == scope))),
        (None, _) => Err(PnrpError::NoCloud { name: name.to_string(), cause: NoCloudCause::NoCloudOfScope(scope) }),
    }
}

fn ambiguous<'a>(name: &CloudName, candidates: impl Iterator<Item = &'a Cloud>) -> PnrpError {
    PnrpError::Ambiguous { name: name.to_string(), candidates: candidates.map(|c| c.name.to_string()).collect() }
}

/// The answer DNS gave for one descriptor name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsAnswer {
    /// A valid descriptor: the cloud it describes.
    Found(Cloud),
    /// NXDOMAIN.
    NxDomain,
    /// The name exists but holds no SRV record.
    NoDescriptor,
    /// The SRV record says the service is not offered (target `.`).
    NotOffered,
    /// No answer within the timeout.
    TimedOut,
    /// The servers failed (SERVFAIL, REFUSED, network error...).
    Failed(String),
    /// A descriptor that breaks the format.
    Malformed {
        /// The record at fault (`<owner> <type>`).
        record: String,
        /// What is wrong.
        reason: String,
    },
}

/// Applies rule 4 to the answers for each descriptor name tried (one for an absolute name, one
/// per search domain for a relative name), in order:
///
/// - a malformed descriptor is an error naming its record;
/// - two or more clouds found are ambiguous; exactly one is the answer;
/// - otherwise "no cloud", with the cause: a timeout if any name got no answer, then a server
///   failure, then "not offered", then "no descriptor", else NXDOMAIN everywhere.
pub fn decide_dns(name: &CloudName, answers: &[(String, DnsAnswer)], timeout: Duration) -> Result<Cloud> {
    let no_cloud = |cause| PnrpError::NoCloud { name: name.to_string(), cause };
    if answers.is_empty() {
        return Err(no_cloud(NoCloudCause::NoSearchDomains));
    }
    if let Some((record, reason)) = answers.iter().find_map(|(_, a)| match a {
        DnsAnswer::Malformed { record, reason } => Some((record, reason)),
        _ => None,
    }) {
        return Err(PnrpError::MalformedDescriptor { record: record.clone(), reason: reason.clone() });
    }
    let found: Vec<&Cloud> = answers
        .iter()
        .filter_map(|(_, a)| match a {
            DnsAnswer::Found(cloud) => Some(cloud),
            _ => None,
        })
        .collect();
    match found.as_slice() {
        [only] => return Ok((*only).clone()),
        [_, _, ..] => return Err(ambiguous(name, found.into_iter())),
        [] => {}
    }
    let names_where = |pred: fn(&DnsAnswer) -> bool| -> Vec<String> {
        answers.iter().filter(|(_, a)| pred(a)).map(|(n, _)| n.clone()).collect()
    };
    let timed_out = names_where(|a| matches!(a, DnsAnswer::TimedOut));
    if !timed_out.is_empty() {
        return Err(no_cloud(NoCloudCause::Timeout { after: timeout, queried: timed_out }));
    }
    if let Some(reason) = answers.iter().find_map(|(_, a)| match a {
        DnsAnswer::Failed(reason) => Some(reason.clone()),
        _ => None,
    }) {
        return Err(no_cloud(NoCloudCause::DnsFailure { reason }));
    }
    if let Some((record, _)) = answers.iter().find(|(_, a)| matches!(a, DnsAnswer::NotOffered)) {
        return Err(no_cloud(NoCloudCause::NotOffered { record: record.clone() }));
    }
    let all = names_where(|_| true);
    if answers.iter().any(|(_, a)| matches!(a, DnsAnswer::NoDescriptor)) {
        return Err(no_cloud(NoCloudCause::NoDescriptor { queried: all }));
    }
    Err(no_cloud(NoCloudCause::NxDomain { queried: all }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{CloudState, Scope};
    use crate::interfaces::{Interface, clouds_from_interfaces, iface};

    fn host(link_interfaces: &[&str], site_interfaces: &[&str]) -> Vec<Cloud> {
        let mut list = Vec::new();
        for (i, name) in link_interfaces.iter().enumerate() {
            list.push(iface(name, 10 + i as u32, &["fe80::1"]));
        }
        for (i, name) in site_interfaces.iter().enumerate() {
            list.push(Interface { multicast: false, ..iface(name, 20 + i as u32, &["fd00::1"]) });
        }
        clouds_from_interfaces(&list)
    }

    fn pick(name: &str, clouds: &[Cloud]) -> Result<String> {
        pick_as(name, NameOrigin::Stored, clouds)
    }

    fn pick_as(name: &str, origin: NameOrigin, clouds: &[Cloud]) -> Result<String> {
        match select(&name.parse()?, origin, clouds)? {
            LocalMatch::Found(c) => Ok(c.name.to_string()),
            LocalMatch::NeedsDns => Ok("<dns>".to_owned()),
        }
    }

    fn ambiguous_candidates(r: Result<String>) -> Vec<String> {
        match r {
            Err(PnrpError::Ambiguous { candidates, .. }) => candidates,
            other => panic!("not ambiguous: {other:?}"),
        }
    }

    fn no_cloud_cause(r: Result<String>) -> NoCloudCause {
        match r {
            Err(PnrpError::NoCloud { cause, .. }) => cause,
            other => panic!("not 'no cloud': {other:?}"),
        }
    }

    #[test]
    fn rule_1_exact_name() {
        let clouds = host(&["eth0", "eth1"], &["eth1"]);
        assert_eq!(pick("Global_", &clouds).unwrap(), "Global_");
        assert_eq!(pick("LinkLocal_eth1", &clouds).unwrap(), "LinkLocal_eth1");
        assert_eq!(pick("linklocal_eth0", &clouds).unwrap(), "LinkLocal_eth0");
        assert_eq!(pick("SiteLocal_eth1", &clouds).unwrap(), "SiteLocal_eth1");
    }

    #[test]
    fn rule_1_exact_name_chooses_even_a_no_network_global() {
        let clouds = host(&[], &[]);
        let Ok(LocalMatch::Found(global)) = select(&CloudName::global(), NameOrigin::Caller, &clouds) else { panic!() };
        assert_eq!(global.state, CloudState::NoNet);
    }

    #[test]
    fn rule_2_bare_scope_names() {
        // 0, 1 and several link-local interfaces.
        assert_eq!(no_cloud_cause(pick("LinkLocal_", &host(&[], &[]))), NoCloudCause::NoCloudOfScope(Scope::LinkLocal));
        assert_eq!(pick("LinkLocal_", &host(&["eth0"], &[])).unwrap(), "LinkLocal_eth0");
        assert_eq!(
            ambiguous_candidates(pick("LinkLocal_", &host(&["eth0", "wlan0"], &[]))),
            ["LinkLocal_eth0", "LinkLocal_wlan0"]
        );
        assert_eq!(
            no_cloud_cause(pick("SiteLocal_", &host(&["eth0"], &[]))),
            NoCloudCause::NoCloudOfScope(Scope::SiteLocal)
        );
        assert_eq!(pick("SiteLocal_", &host(&["eth0"], &["eth0"])).unwrap(), "SiteLocal_eth0");
        assert_eq!(ambiguous_candidates(pick("SiteLocal_", &host(&[], &["a", "b"]))), ["SiteLocal_a", "SiteLocal_b"]);
    }

    #[test]
    fn rule_3_names_from_another_host_fall_back_to_their_scope() {
        assert_eq!(pick("LinkLocal_en0", &host(&["eth0"], &[])).unwrap(), "LinkLocal_eth0");
        assert_eq!(pick("SiteLocal_en0", &host(&[], &["eth0"])).unwrap(), "SiteLocal_eth0");
        assert_eq!(
            ambiguous_candidates(pick("LinkLocal_en0", &host(&["eth0", "eth1"], &[]))),
            ["LinkLocal_eth0", "LinkLocal_eth1"]
        );
        let err = pick("LinkLocal_en0", &host(&[], &["eth0"])).unwrap_err();
        assert_eq!(err.to_string(), "no cloud named LinkLocal_en0: this host has no link-local cloud");
    }

    #[test]
    fn rule_3_does_not_apply_to_a_name_the_caller_passes() {
        let clouds = host(&["eth0"], &["eth0"]);
        let err = pick_as("LinkLocal_nosuch9", NameOrigin::Caller, &clouds).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no cloud named LinkLocal_nosuch9: this host has no such interface; its clouds are \
             Global_, LinkLocal_eth0, SiteLocal_eth0"
        );
        // Exact names, bare scope names and DNS names are the same for both origins.
        for origin in [NameOrigin::Caller, NameOrigin::Stored] {
            assert_eq!(pick_as("linklocal_eth0", origin, &clouds).unwrap(), "LinkLocal_eth0");
            assert_eq!(pick_as("LinkLocal_", origin, &clouds).unwrap(), "LinkLocal_eth0");
            assert_eq!(pick_as("corp.example", origin, &clouds).unwrap(), "<dns>");
        }
    }

    #[test]
    fn rule_4_dns_names_go_to_dns() {
        let clouds = host(&["eth0"], &["eth0"]);
        assert_eq!(pick("corp.example", &clouds).unwrap(), "<dns>");
        assert_eq!(pick("corp.example.", &clouds).unwrap(), "<dns>");
    }

    #[test]
    fn rule_5_invalid_names_are_not_no_cloud() {
        assert!(matches!(pick("", &host(&[], &[])), Err(PnrpError::InvalidCloudName { .. })));
        assert!(matches!(pick("a\tb", &host(&[], &[])), Err(PnrpError::InvalidCloudName { .. })));
    }

    fn dns_cloud(name: &str) -> Cloud {
        Cloud {
            name: name.parse().unwrap(),
            scope: Scope::Global,
            scope_id: 0,
            state: CloudState::Active,
            local_only: false,
            seeds: Vec::new(),
        }
    }

    fn decide(answers: Vec<DnsAnswer>) -> Result<Cloud> {
        let name: CloudName = "corp".parse().unwrap();
        let answers: Vec<(String, DnsAnswer)> =
            answers.into_iter().enumerate().map(|(i, a)| (format!("_peergroup._udp.corp.d{i}."), a)).collect();
        decide_dns(&name, &answers, Duration::from_millis(300))
    }

    #[test]
    fn rule_4_dns_decisions() {
        let a = dns_cloud("corp.d0.");
        assert_eq!(decide(vec![DnsAnswer::Found(a.clone()), DnsAnswer::NxDomain]).unwrap(), a);
        assert_eq!(decide(vec![DnsAnswer::NxDomain, DnsAnswer::Found(a.clone())]).unwrap(), a);
        let err = decide(vec![DnsAnswer::Found(a.clone()), DnsAnswer::Found(dns_cloud("corp.d1."))]).unwrap_err();
        assert_eq!(err.to_string(), "cloud name corp is ambiguous: it matches corp.d0., corp.d1.");
        let err = decide(vec![DnsAnswer::NxDomain, DnsAnswer::NxDomain]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no cloud named corp: DNS says NXDOMAIN for _peergroup._udp.corp.d0., _peergroup._udp.corp.d1."
        );
        let err = decide(vec![DnsAnswer::NxDomain, DnsAnswer::TimedOut]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no cloud named corp: DNS timeout: no answer within 300 ms for _peergroup._udp.corp.d1."
        );
        assert!(matches!(
            decide(vec![DnsAnswer::NoDescriptor, DnsAnswer::NxDomain]),
            Err(PnrpError::NoCloud { cause: NoCloudCause::NoDescriptor { .. }, .. })
        ));
        assert!(matches!(
            decide(vec![DnsAnswer::NotOffered, DnsAnswer::NxDomain]),
            Err(PnrpError::NoCloud { cause: NoCloudCause::NotOffered { .. }, .. })
        ));
        assert!(matches!(
            decide(vec![DnsAnswer::Failed("SERVFAIL".into()), DnsAnswer::NxDomain]),
            Err(PnrpError::NoCloud { cause: NoCloudCause::DnsFailure { .. }, .. })
        ));
        let malformed = DnsAnswer::Malformed { record: "_peergroup._udp.corp.d1. TXT".into(), reason: "bad".into() };
        let err = decide(vec![DnsAnswer::Found(a), malformed]).unwrap_err();
        assert_eq!(err.to_string(), "malformed cloud descriptor _peergroup._udp.corp.d1. TXT: bad");
        assert!(matches!(decide(vec![]), Err(PnrpError::NoCloud { cause: NoCloudCause::NoSearchDomains, .. })));
    }
}
