//! Property: no sequence of grant writes lets a caller (or anyone it writes for) end up
//! holding a scope the caller did not hold before, in that context, and no identity write
//! (another user's password, email, phone or linked identity) lets it sign in as a user
//! holding such a scope, unless the caller held `full_access`. Callers hold random subsets
//! of the management scopes; writes go to every grant table, with ids in random spellings;
//! holdings are read with the server's own scope loader (`roost::auth::scopes::load`)
//! before and after.
//!
//! One server per run (SQLite; PostgreSQL too when `TEST_DATABASE_URL` is set); each case
//! uses fresh users, on top of a shared world of roles, scopes and groups that earlier
//! cases may have changed (which only widens what is tried).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, TestRunner};
use serde_json::{Value, json};

use crate::support::roles::{grant, role_with, scope_id};
use crate::support::*;

/// Scopes the random roles are built from (management scopes included, so granted
/// roles can themselves grant).
const POOL: &[&str] = &[
    "users_read",
    "roles_read",
    "user_roles_read",
    "user_roles_write",
    "role_scopes_write",
    "user_group_roles_write",
    "group_group_roles_write",
    "scopes_write",
    "access_groups_write",
    "events_read",
    "full_access",
];

/// What a caller may be given to manage grants with.
const MANAGEMENT: &[&str] = &[
    "user_roles_read",
    "user_roles_write",
    "role_scopes_read",
    "role_scopes_write",
    "user_group_roles_read",
    "user_group_roles_write",
    "group_group_roles_read",
    "group_group_roles_write",
    "scopes_read",
    "scopes_write",
    "roles",
    "roles_read",
    "events_read",
    // Identity writes: taking over another account is a grant too.
    "users_read",
    "users_write",
    "users_write_password",
    "users_write_email",
    "users_write_phone",
    "user_oauth_providers_read",
    "user_oauth_providers_write",
];

/// An id as a client may spell it.
fn spelled(id: i64, how: u8) -> Value {
    match how % 6 {
        0 => json!(id),
        1 => json!(format!("{id} ")),
        2 => json!(format!(" {id}")),
        3 => json!(id as f64),
        4 => json!(format!("0{id}")),
        _ => json!(id.to_string()),
    }
}

#[derive(Debug, Clone)]
enum Op {
    UserRole {
        for_me: bool,
        role: usize,
        how: u8,
    },
    RoleScope {
        my_role: bool,
        role: usize,
        scope: usize,
        how: u8,
    },
    GroupRole {
        for_me: bool,
        group: usize,
        role: usize,
        how: u8,
    },
    Link {
        parent: usize,
        child: usize,
        role: usize,
        how: u8,
    },
    RenameScope {
        scope: usize,
        to: usize,
        how: u8,
    },
    MoveGrant {
        role: usize,
        how: u8,
    },
    RemoveRoleScope {
        role: usize,
        how: u8,
    },
    /// Sets the sign-in details (password, email, phone, a linked identity) of the
    /// administrator or of the other user.
    Identity {
        admin: bool,
        kind: u8,
        how: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let i = 0usize..6;
    prop_oneof![
        (any::<bool>(), i.clone(), any::<u8>()).prop_map(|(for_me, role, how)| Op::UserRole {
            for_me,
            role,
            how
        }),
        (any::<bool>(), i.clone(), 0..POOL.len(), any::<u8>()).prop_map(
            |(my_role, role, scope, how)| Op::RoleScope {
                my_role,
                role,
                scope,
                how
            }
        ),
        (any::<bool>(), 0usize..4, i.clone(), any::<u8>()).prop_map(
            |(for_me, group, role, how)| Op::GroupRole {
                for_me,
                group,
                role,
                how
            }
        ),
        (0usize..4, 0usize..4, i.clone(), any::<u8>()).prop_map(|(parent, child, role, how)| {
            Op::Link {
                parent,
                child,
                role,
                how,
            }
        }),
        (0..POOL.len(), 0..POOL.len(), any::<u8>()).prop_map(|(scope, to, how)| Op::RenameScope {
            scope,
            to,
            how
        }),
        (i.clone(), any::<u8>()).prop_map(|(role, how)| Op::MoveGrant { role, how }),
        (i, any::<u8>()).prop_map(|(role, how)| Op::RemoveRoleScope { role, how }),
        (any::<bool>(), 0u8..4, any::<u8>()).prop_map(|(admin, kind, how)| Op::Identity {
            admin,
            kind,
            how
        }),
    ]
}

/// The shared world: roles with random scope sets, groups, scope ids.
struct World {
    roles: Vec<i64>,
    groups: Vec<i64>,
    scopes: Vec<i64>,
}

async fn world(srv: &TestServer, admin: &Conn) -> World {
    let mut scopes = Vec::new();
    for slug in POOL {
        scopes.push(scope_id(admin, slug).await.as_i64().unwrap());
    }
    let sets: [&[&str]; 6] = [
        &[],
        &["users_read"],
        &["user_roles_read", "user_roles_write"],
        &["events_read", "roles_read"],
        &["full_access"],
        &[
            "group_group_roles_write",
            "user_group_roles_write",
            "access_groups_write",
        ],
    ];
    let mut roles = Vec::new();
    for set in sets {
        roles.push(role_with(admin, set).await["id"].as_i64().unwrap());
    }
    let kind = ok(admin
        .create("access_group_types", json!({"name": "T", "slug": "t"}), q())
        .await);
    let mut groups = Vec::new();
    for n in 0..4 {
        let slug = format!("g{n}");
        let g = ok(admin
            .create(
                "access_groups",
                json!({"type_id": kind["id"], "name": slug, "slug": slug}),
                q(),
            )
            .await);
        groups.push(g["id"].as_i64().unwrap());
    }
    // One powerful link so memberships can bring more than their role.
    ok(admin
        .create(
            "group_group_roles",
            json!({"parent_group_id": groups[0], "child_group_id": groups[1], "role_id": roles[4]}),
            q(),
        )
        .await);
    let _ = srv;
    World {
        roles,
        groups,
        scopes,
    }
}

/// What a user holds: global slugs, and slugs per group.
#[derive(Debug, Clone, PartialEq)]
struct Held {
    global: BTreeSet<String>,
    groups: BTreeMap<i64, BTreeSet<String>>,
}

impl Held {
    fn has_in(&self, group: Option<i64>, slug: &str) -> bool {
        let full = self.global.contains("full_access");
        full || self.global.contains(slug)
            || group.is_some_and(|g| {
                self.groups
                    .get(&g)
                    .is_some_and(|s| s.contains(slug) || s.contains("full_access"))
            })
    }
}

async fn held(srv: &TestServer, user: i64) -> Held {
    let db = roost::service::Db::Pool(&srv.app().db);
    let scopes = roost::auth::scopes::load(db, user).await.unwrap();
    Held {
        global: scopes.slugs().map(str::to_string).collect(),
        groups: scopes.group_slugs().clone(),
    }
}

/// Everything `after` holds that neither `before` (the user's own holdings) nor the
/// caller's holdings `caller` explain, in its context.
fn gained(before: &Held, after: &Held, caller: &Held) -> Vec<String> {
    let explained =
        |group: Option<i64>, slug: &str| before.has_in(group, slug) || caller.has_in(group, slug);
    let mut out: Vec<String> = after
        .global
        .iter()
        .filter(|s| !explained(None, s))
        .cloned()
        .collect();
    for (group, slugs) in &after.groups {
        out.extend(
            slugs
                .iter()
                .filter(|s| !explained(Some(*group), s))
                .map(|s| format!("{s} in group {group}")),
        );
    }
    out
}

/// Runs `ops`; returns the users whose sign-in details a call changed.
async fn run_ops(
    c: &Conn,
    world: &World,
    me: i64,
    other: i64,
    my_role: i64,
    ops: &[Op],
) -> Vec<i64> {
    let mut taken_over = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        let res = match op.clone() {
            Op::UserRole { for_me, role, how } => {
                let user = if for_me { me } else { other };
                c.create(
                    "user_roles",
                    json!({"user_id": spelled(user, how), "role_id": spelled(world.roles[role], how / 6)}),
                    q(),
                )
                .await
            }
            Op::RoleScope {
                my_role: mine,
                role,
                scope,
                how,
            } => {
                let role = if mine { my_role } else { world.roles[role] };
                c.create(
                    "role_access_scopes",
                    json!({"role_id": spelled(role, how), "access_scope_id": spelled(world.scopes[scope], how / 6)}),
                    q(),
                )
                .await
            }
            Op::GroupRole {
                for_me,
                group,
                role,
                how,
            } => {
                let user = if for_me { me } else { other };
                c.create(
                    "user_group_roles",
                    json!({"user_id": user, "group_id": spelled(world.groups[group], how),
                           "role_id": spelled(world.roles[role], how / 6)}),
                    q(),
                )
                .await
            }
            Op::Link {
                parent,
                child,
                role,
                how,
            } => {
                c.create(
                    "group_group_roles",
                    json!({"parent_group_id": spelled(world.groups[parent], how),
                           "child_group_id": spelled(world.groups[child], how / 6),
                           "role_id": world.roles[role]}),
                    q(),
                )
                .await
            }
            Op::RenameScope { scope, to, how } => {
                let slug = POOL[to].to_string();
                c.patch(
                    "access_scopes",
                    spelled(world.scopes[scope], how),
                    json!({"slug": slug}),
                    q(),
                )
                .await
            }
            Op::MoveGrant { role, how } => {
                let mine = c.find("user_roles", json!({"user_id": me})).await;
                match mine.ok().and_then(|p| page_data(&p).first().cloned()) {
                    Some(row) => {
                        c.patch(
                            "user_roles",
                            row["id"].clone(),
                            json!({"role_id": spelled(world.roles[role], how)}),
                            q(),
                        )
                        .await
                    }
                    None => continue,
                }
            }
            Op::Identity { admin, kind, how } => {
                let target = if admin { 1 } else { other };
                let unique = format!("{me}-{n}-{how}");
                let res = if kind == 3 {
                    c.create(
                        "user_oauth_providers",
                        json!({"user_id": spelled(target, how), "slug": "gh", "sub": unique}),
                        q(),
                    )
                    .await
                } else {
                    let data = match kind {
                        0 => json!({"password": format!("Taken-Over-Passphrase-{unique}")}),
                        1 => json!({"email": format!("taken-{unique}@roost.test")}),
                        _ => json!({"phone": format!("+1555{me:03}{n:02}{how:03}")}),
                    };
                    c.patch("users", spelled(target, how), data, q()).await
                };
                if res.is_ok() {
                    taken_over.push(target);
                }
                res
            }
            Op::RemoveRoleScope { role, how } => {
                let rows = c
                    .find("role_access_scopes", json!({"role_id": world.roles[role]}))
                    .await;
                match rows.ok().and_then(|p| page_data(&p).first().cloned()) {
                    Some(row) => {
                        c.remove(
                            "role_access_scopes",
                            spelled(row["id"].as_i64().unwrap(), how),
                            q(),
                        )
                        .await
                    }
                    None => continue,
                }
            }
        };
        if let Err(e) = &res {
            e.assert_well_formed();
            assert!(e.code() < 500, "{op:?}: {}", e.body);
        }
    }
    taken_over
}

fn property(setup: Setup) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (srv, admin, world) = rt.block_on(async {
        let srv = setup.server().await;
        let admin = srv.admin().await;
        let world = world(&srv, &admin).await;
        (srv, admin, world)
    });
    let cases = std::env::var("ESCALATION_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let mut runner = TestRunner::new(PropConfig {
        cases,
        failure_persistence: None,
        ..PropConfig::default()
    });
    let counter = std::sync::atomic::AtomicU32::new(0);
    let strategy = (
        proptest::sample::subsequence(MANAGEMENT.to_vec(), 0..MANAGEMENT.len()),
        proptest::collection::vec(op(), 1..10),
    );
    let result = runner.run(&strategy, |(scopes, ops)| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        rt.block_on(async {
            let caller = srv
                .create_user(&admin, &format!("caller{n}@roost.test"))
                .await;
            let other = srv
                .create_user(&admin, &format!("other{n}@roost.test"))
                .await;
            let role = role_with(&admin, &scopes).await;
            grant(&admin, &caller, &role).await;
            let (me, them) = (
                caller["id"].as_i64().unwrap(),
                other["id"].as_i64().unwrap(),
            );
            let my_before = held(&srv, me).await;
            let their_before = held(&srv, them).await;
            let c = srv.login(&format!("caller{n}@roost.test"), PASSWORD).await;
            let taken_over =
                run_ops(&c, &world, me, them, role["id"].as_i64().unwrap(), &ops).await;
            if my_before.global.contains("full_access") {
                return;
            }
            // Whoever the caller can now sign in as holds nothing the caller did not.
            let nothing = Held {
                global: BTreeSet::new(),
                groups: BTreeMap::new(),
            };
            for target in taken_over {
                let theirs = gained(&nothing, &held(&srv, target).await, &my_before);
                assert!(
                    theirs.is_empty(),
                    "the caller can sign in as user {target}, who holds {theirs:?} \
                     (caller: {scopes:?}, ops: {ops:?})"
                );
            }
            let mine = gained(&my_before, &held(&srv, me).await, &my_before);
            assert!(
                mine.is_empty(),
                "caller gained {mine:?} with {scopes:?} through {ops:?}"
            );
            let theirs = gained(&their_before, &held(&srv, them).await, &my_before);
            assert!(
                theirs.is_empty(),
                "another user gained {theirs:?} from a caller with {scopes:?} through {ops:?}"
            );
        });
        Ok(())
    });
    drop(admin);
    rt.block_on(async move { drop(srv) });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn no_grant_sequence_escalates_sqlite() {
    property(Setup::new(Backend::Sqlite, Transport::Rest));
}

#[test]
fn no_grant_sequence_escalates_socket_pg() {
    if let Some(s) = Setup::postgres(Transport::Socket) {
        property(s);
    }
}
