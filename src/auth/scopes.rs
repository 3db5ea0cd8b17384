//! Effective global access scopes (DESIGN §4), loaded: `user_roles -> roles ->
//! role_access_scopes -> access_scopes`; `full_access` implies every scope. The type,
//! [`Scopes`], is the core's (`service::scopes`): policies read it.
//!
//! Resolved once per user and cached in memory
//! ([`PrincipalCache`](super::principal_cache::PrincipalCache)), so a permission check is a
//! hash lookup.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::error::{Error, Result};
use crate::service::Db;
pub use crate::service::scopes::{FULL_ACCESS, Scopes};

/// `user_roles` joined to the scopes its roles grant (`role_access_scopes`,
/// `access_scopes`): global grants, row by row.
fn user_roles_with_scopes() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .from(Alias::new("user_roles"))
        .inner_join(
            Alias::new("role_access_scopes"),
            Expr::col((Alias::new("role_access_scopes"), Alias::new("role_id")))
                .equals((Alias::new("user_roles"), Alias::new("role_id"))),
        )
        .inner_join(
            Alias::new("access_scopes"),
            Expr::col((Alias::new("access_scopes"), Alias::new("id"))).equals((
                Alias::new("role_access_scopes"),
                Alias::new("access_scope_id"),
            )),
        )
        .to_owned()
}

/// Reads the scope slugs granted to `user_id` through its global roles.
pub async fn load(db: Db<'_>, user_id: i64) -> Result<Scopes> {
    let select = user_roles_with_scopes()
        .distinct()
        .column((Alias::new("access_scopes"), Alias::new("slug")))
        .and_where(Expr::col((Alias::new("user_roles"), Alias::new("user_id"))).eq(user_id))
        .to_owned();
    let global = slugs(db, &select).await?;
    let groups = group_scopes(db, user_id).await?;
    Ok(Scopes::with_groups(global.into_slug_set(), groups))
}

/// Most groups one user's group roles are followed through (a guard; cycles are refused
/// when links are written, and the walk visits each group once anyway).
const MAX_GROUPS: usize = 10_000;

/// The roles `user_id` holds per group: its `user_group_roles`, then up the
/// `group_group_roles` links (members of the child hold the link's role in the parent,
/// and are thereby members of the parent), resolved to scope slugs.
pub async fn group_roles(db: Db<'_>, user_id: i64) -> Result<BTreeMap<i64, BTreeSet<i64>>> {
    let direct = direct_group_roles(db, user_id).await?;
    let mut roles: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    if direct.is_empty() {
        return Ok(roles);
    }
    for row in &direct {
        roles.entry(row[0]).or_default().insert(row[1]);
    }
    let links = group_links(db).await?;
    let mut parents: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
    for link in &links {
        parents.entry(link[1]).or_default().push((link[0], link[2]));
    }
    let mut member: BTreeSet<i64> = roles.keys().copied().collect();
    let mut queue: VecDeque<i64> = member.iter().copied().collect();
    while let Some(child) = queue.pop_front() {
        for (parent, role) in parents.get(&child).map(Vec::as_slice).unwrap_or_default() {
            roles.entry(*parent).or_default().insert(*role);
            if member.len() < MAX_GROUPS && member.insert(*parent) {
                queue.push_back(*parent);
            }
        }
    }
    Ok(roles)
}

/// `(group, role)` for every role a member of `group` holds above it through
/// `group_group_roles` links, followed transitively (each group visited once).
pub async fn roles_above(db: Db<'_>, group: i64) -> Result<Vec<(i64, i64)>> {
    let links = group_links(db).await?;
    let mut out = Vec::new();
    let mut seen = BTreeSet::from([group]);
    let mut queue = VecDeque::from([group]);
    while let Some(child) = queue.pop_front() {
        for link in links.iter().filter(|l| l[1] == child) {
            out.push((link[0], link[2]));
            if seen.len() < MAX_GROUPS && seen.insert(link[0]) {
                queue.push_back(link[0]);
            }
        }
    }
    Ok(out)
}

async fn group_scopes(db: Db<'_>, user_id: i64) -> Result<BTreeMap<i64, BTreeSet<String>>> {
    let roles = group_roles(db, user_id).await?;
    let mut role_scopes: BTreeMap<i64, Scopes> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (group, held) in roles {
        let mut slugs = BTreeSet::new();
        for role in held {
            if let std::collections::btree_map::Entry::Vacant(entry) = role_scopes.entry(role) {
                entry.insert(of_role(db, role).await?);
            }
            if let Some(scopes) = role_scopes.get(&role) {
                slugs.extend(scopes.slug_set().iter().cloned());
            }
        }
        out.insert(group, slugs);
    }
    Ok(out)
}

/// `[group_id, role_id]` of every `user_group_roles` row of `user_id`.
async fn direct_group_roles(db: Db<'_>, user_id: i64) -> Result<Vec<Vec<i64>>> {
    int_rows(
        db,
        &Query::select()
            .columns([Alias::new("group_id"), Alias::new("role_id")])
            .from(Alias::new("user_group_roles"))
            .and_where(Expr::col(Alias::new("user_id")).eq(user_id))
            .to_owned(),
        &["group_id", "role_id"],
    )
    .await
}

/// `[parent_group_id, child_group_id, role_id]` of every `group_group_roles` link.
async fn group_links(db: Db<'_>) -> Result<Vec<Vec<i64>>> {
    int_rows(
        db,
        &Query::select()
            .columns([
                Alias::new("parent_group_id"),
                Alias::new("child_group_id"),
                Alias::new("role_id"),
            ])
            .from(Alias::new("group_group_roles"))
            .to_owned(),
        &["parent_group_id", "child_group_id", "role_id"],
    )
    .await
}

async fn int_rows(
    db: Db<'_>,
    select: &sea_orm::sea_query::SelectStatement,
    columns: &[&str],
) -> Result<Vec<Vec<i64>>> {
    let rows = db
        .query_all(db.build(select))
        .await
        .map_err(Error::internal)?;
    rows.iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| row.try_get::<i64>("", c).map_err(Error::internal))
                .collect()
        })
        .collect()
}

/// The scope slugs role `role_id` grants.
pub async fn of_role(db: Db<'_>, role_id: i64) -> Result<Scopes> {
    let select = Query::select()
        .distinct()
        .column((Alias::new("access_scopes"), Alias::new("slug")))
        .from(Alias::new("role_access_scopes"))
        .inner_join(
            Alias::new("access_scopes"),
            Expr::col((Alias::new("access_scopes"), Alias::new("id"))).equals((
                Alias::new("role_access_scopes"),
                Alias::new("access_scope_id"),
            )),
        )
        .and_where(Expr::col((Alias::new("role_access_scopes"), Alias::new("role_id"))).eq(role_id))
        .to_owned();
    slugs(db, &select).await
}

/// Whether any user holds `slug` through a global role.
pub async fn anyone_holds(db: Db<'_>, slug: &str) -> Result<bool> {
    let select = user_roles_with_scopes()
        .column((Alias::new("user_roles"), Alias::new("user_id")))
        .and_where(Expr::col((Alias::new("access_scopes"), Alias::new("slug"))).eq(slug))
        .limit(1)
        .to_owned();
    let row = db
        .query_one(db.build(&select))
        .await
        .map_err(Error::internal)?;
    Ok(row.is_some())
}

/// The slug of access scope `scope_id`, if it exists.
pub async fn slug_of(db: Db<'_>, scope_id: i64) -> Result<Option<String>> {
    let select = Query::select()
        .column(Alias::new("slug"))
        .from(Alias::new("access_scopes"))
        .and_where(Expr::col(Alias::new("id")).eq(scope_id))
        .to_owned();
    let row = db
        .query_one(db.build(&select))
        .await
        .map_err(Error::internal)?;
    match row {
        Some(row) => row
            .try_get::<String>("", "slug")
            .map(Some)
            .map_err(Error::internal),
        None => Ok(None),
    }
}

async fn slugs(db: Db<'_>, select: &sea_orm::sea_query::SelectStatement) -> Result<Scopes> {
    let rows = db
        .query_all(db.build(select))
        .await
        .map_err(Error::internal)?;
    let mut out = BTreeSet::new();
    for row in rows {
        out.insert(row.try_get::<String>("", "slug").map_err(Error::internal)?);
    }
    Ok(Scopes::from_set(out))
}

/// Why `user_id` holds `scope`: one entry per role grant that carries it (or
/// `full_access`), global (`{"via": "role", ...}`) or inside a group
/// (`{"via": "group", "group_id", "chain": [group ids from the user's own group up to
/// group_id]}`).
pub async fn explain(db: Db<'_>, user_id: i64, scope: &str) -> Result<Vec<serde_json::Value>> {
    use serde_json::json;
    // (role, None) for global grants, (role, Some(chain)) for group grants.
    let mut grants: Vec<(i64, Option<Vec<i64>>)> = Vec::new();
    let global = int_rows(
        db,
        &Query::select()
            .column(Alias::new("role_id"))
            .from(Alias::new("user_roles"))
            .and_where(Expr::col(Alias::new("user_id")).eq(user_id))
            .to_owned(),
        &["role_id"],
    )
    .await?;
    grants.extend(global.iter().map(|r| (r[0], None)));
    let direct = direct_group_roles(db, user_id).await?;
    if !direct.is_empty() {
        let links = group_links(db).await?;
        let mut chains: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        let mut queue = VecDeque::new();
        for row in &direct {
            grants.push((row[1], Some(vec![row[0]])));
            if let std::collections::btree_map::Entry::Vacant(entry) = chains.entry(row[0]) {
                entry.insert(vec![row[0]]);
                queue.push_back(row[0]);
            }
        }
        while let Some(child) = queue.pop_front() {
            let Some(chain) = chains.get(&child).cloned() else {
                continue;
            };
            for link in links.iter().filter(|l| l[1] == child) {
                let mut up = chain.clone();
                up.push(link[0]);
                grants.push((link[2], Some(up.clone())));
                if chains.len() < MAX_GROUPS && !chains.contains_key(&link[0]) {
                    chains.insert(link[0], up);
                    queue.push_back(link[0]);
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut role_scopes: BTreeMap<i64, Scopes> = BTreeMap::new();
    for (role, chain) in grants {
        if let std::collections::btree_map::Entry::Vacant(entry) = role_scopes.entry(role) {
            entry.insert(of_role(db, role).await?);
        }
        let Some(scopes) = role_scopes.get(&role) else {
            continue;
        };
        let through = if scopes.slug_set().contains(scope) {
            scope
        } else if scopes.is_full() {
            FULL_ACCESS
        } else {
            continue;
        };
        out.push(match chain {
            None => json!({"via": "role", "role_id": role, "scope": through}),
            Some(chain) => json!({
                "via": "group",
                "role_id": role,
                "scope": through,
                "group_id": chain.last(),
                "chain": chain,
            }),
        });
    }
    Ok(out)
}
