//! REST query strings exactly as `@feathersjs/rest-client` (qs) encodes them, other qs
//! syntax, and the `Authorization` header.

use serde_json::json;

use crate::single_transport;
use crate::support::*;

single_transport!(Rest:
    official_query_strings,
    qs_syntax_variants,
    authorization_header,
);

/// GET `/access_scopes?<raw>` and the ids of the page.
async fn ids_for(c: &RestClient, raw: &str) -> Vec<i64> {
    let r = c
        .raw("GET", &format!("/access_scopes?{raw}"), None, &[])
        .await;
    assert_eq!(r.status, 200, "?{raw}: {}", r.text);
    page_ids(&r.json())
}

async fn official_query_strings(s: Setup) {
    let srv = s.server().await;
    let c = srv.rest_admin().await;
    // Byte for byte what @feathersjs/rest-client (qs.stringify) sends.
    assert_eq!(
        ids_for(&c, "%24sort%5Bid%5D=-1&%24limit=2&id%5B%24lte%5D=39").await,
        [39, 38]
    );
    assert_eq!(
        ids_for(
            &c,
            "id%5B%24in%5D%5B0%5D=1&id%5B%24in%5D%5B1%5D=5&%24sort%5Bid%5D=1"
        )
        .await,
        [1, 5]
    );
    assert_eq!(
        ids_for(
            &c,
            "%24or%5B0%5D%5Bslug%5D=roles&%24or%5B1%5D%5Bid%5D%5B%24lt%5D=2&%24sort%5Bid%5D=1"
        )
        .await,
        [1, 2]
    );
    assert_eq!(
        ids_for(
            &c,
            "id%5B%24gt%5D=2&id%5B%24lt%5D=5&%24sort%5Bid%5D=-1&%24skip=1"
        )
        .await,
        [3]
    );
    let r = c
        .raw(
            "GET",
            "/access_scopes?%24select%5B0%5D=slug&id=2",
            None,
            &[],
        )
        .await;
    assert_eq!(page_data(&r.json()), [json!({"id": 2, "slug": "roles"})]);
    let r = c.raw("GET", "/access_scopes?%24limit=0", None, &[]).await;
    let page = r.json();
    assert_eq!(
        (page["limit"].clone(), page["data"].clone()),
        (json!(0), json!([]))
    );
    assert_eq!(
        ids_for(
            &c,
            "slug%5B%24like%5D=users%5Fread%25&%24sort%5Bid%5D=1&id%5B%24lte%5D=39"
        )
        .await,
        [9, 13, 14, 15, 16]
    );
    // The client's own encoder produces the same strings.
    assert_eq!(
        rest::qs_stringify(&json!({"$sort": {"id": -1}, "$limit": 2, "id": {"$lte": 39}})),
        "%24sort%5Bid%5D=-1&%24limit=2&id%5B%24lte%5D=39"
    );
}

async fn qs_syntax_variants(s: Setup) {
    let srv = s.server().await;
    let c = srv.rest_admin().await;
    // Unencoded brackets, `[]` arrays, repeated keys: all qs syntax.
    assert_eq!(
        ids_for(&c, "id[$in][]=1&id[$in][]=3&$sort[id]=1").await,
        [1, 3]
    );
    assert_eq!(ids_for(&c, "id[$in]=1&id[$in]=4&$sort[id]=1").await, [1, 4]);
    assert_eq!(ids_for(&c, "id[$in][0]=2&$sort[id]=1").await, [2]);
    assert_eq!(
        ids_for(&c, "$or[0][id]=1&$or[1][id]=2&$sort[id]=-1").await,
        [2, 1]
    );
    assert_eq!(
        ids_for(&c, "$and[0][id][$gte]=2&$and[1][id][$lte]=3&$sort[id]=1").await,
        [2, 3]
    );
    // `+` is not a space in qs's RFC 3986 mode but servers decode it as one: either way
    // this slug matches nothing.
    assert_eq!(ids_for(&c, "slug=no+such").await, Vec::<i64>::new());
}

async fn authorization_header(s: Setup) {
    let srv = s.server().await;
    let c = srv.rest_admin().await;
    let token = c.token().unwrap();
    let anon = srv.rest();
    let r = anon
        .raw(
            "GET",
            "/roles",
            None,
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = anon
        .raw(
            "GET",
            "/roles",
            None,
            &[("Authorization", &format!("bearer {token}"))],
        )
        .await;
    assert_eq!(r.status, 200, "scheme is case-insensitive: {}", r.text);
    for bad in [
        "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
        "Bearer not-a-token",
        "Bearer ",
    ] {
        let r = anon
            .raw("GET", "/roles", None, &[("Authorization", bad)])
            .await;
        assert_eq!(r.status, 401, "{bad}: {}", r.text);
        r.error().assert_kind("NotAuthenticated", 401);
    }
    let r = anon
        .raw(
            "GET",
            "/roles",
            None,
            &[("Authorization", "Bearer not-a-token")],
        )
        .await;
    assert_eq!(r.error().message(), "jwt malformed");
}
