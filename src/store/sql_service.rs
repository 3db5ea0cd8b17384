//! The generic table-backed Feathers service (`@feathersjs/knex` semantics, feathers-protocol
//! §5): query language, pagination, `multi` gating, `$select` on every result, 404 for
//! unknown / wrong-shape ids and id+query mismatches, constraint errors as Feathers errors.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::{
    Asterisk, Condition, Expr, Func, Query as Sql, ReturningClause, SelectStatement,
};
use serde_json::{Map, Value, json};

use super::data::{self, Mode, Values};
use super::errors::{self, Action};
use super::filter;
use super::options::{Multi, clamp, id_display, parse_id};
use super::rows;
use super::rules::{Change, Prepared, StandIn, WriteRules};
use super::table::{Column, ID, Table};
use crate::config::PaginateConfig;
use crate::error::{Error, Result};
use crate::service::inline_writes::Savepoint;
use crate::service::{Call, Caller, Ctx, Db, Method, Policy, Query, Service};

/// A Feathers service over one table. Defaults: no pagination, `multi` off, all six
/// methods, no [`WriteRules`].
pub struct SqlService {
    table: Table,
    policy: Policy,
    paginate: Option<PaginateConfig>,
    multi: Multi,
    methods: &'static [Method],
    rules: Option<Arc<dyn WriteRules>>,
}

impl SqlService {
    pub fn new(table: Table, policy: Policy) -> Self {
        Self {
            table,
            policy,
            paginate: None,
            multi: Multi::Off,
            methods: &Method::ALL,
            rules: None,
        }
    }

    /// Checks and rewrites around every write. Rules need one record per write:
    /// `patch(null)` and `remove(null)` answer 405 on a service with rules.
    pub fn with_rules(mut self, rules: impl WriteRules) -> Self {
        self.rules = Some(Arc::new(rules));
        self
    }

    async fn before(&self, ctx: &Ctx<'_>, change: Change<'_>, data: Value) -> Result<Prepared> {
        match &self.rules {
            Some(rules) => rules.before_write(ctx, self, change, data).await,
            None => Ok(Prepared::new(data)),
        }
    }

    async fn after(&self, ctx: &Ctx<'_>, change: Change<'_>, record: &Value) -> Result<()> {
        match &self.rules {
            Some(rules) => rules.after_write(ctx, self, change, record).await,
            None => Ok(()),
        }
    }

    /// `Some` makes `find` return `{total, limit, skip, data}` pages.
    pub fn paginate(mut self, paginate: Option<PaginateConfig>) -> Self {
        self.paginate = paginate;
        self
    }

    pub fn multi(mut self, multi: Multi) -> Self {
        self.multi = multi;
        self
    }

    /// The methods offered (the others answer 405 before reaching the service).
    pub fn with_methods(mut self, methods: &'static [Method]) -> Self {
        self.methods = methods;
        self
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    fn query(ctx: &Ctx<'_>) -> Result<Query> {
        Query::parse(&ctx.params.query)
    }

    /// `create` ignores the query except `$select`.
    fn create_select(ctx: &Ctx<'_>) -> Result<Option<Vec<String>>> {
        let Some(select) = ctx.params.query.get("$select") else {
            return Ok(None);
        };
        let mut only = Map::new();
        only.insert("$select".into(), select.clone());
        Ok(Query::parse(&only)?.select)
    }

    fn returning(columns: &[&Column]) -> ReturningClause {
        Sql::returning().columns(columns.iter().map(|c| c.name))
    }

    fn select(&self, columns: &[&Column], cond: Condition) -> SelectStatement {
        Sql::select()
            .columns(columns.iter().map(|c| c.name))
            .from(self.table.name)
            .cond_where(cond)
            .to_owned()
    }

    async fn fetch(
        &self,
        db: Db<'_>,
        columns: &[&Column],
        stmt: &SelectStatement,
    ) -> Result<Vec<Value>> {
        let stmt = db.build(stmt);
        if let Some(records) = db.query_inline(&stmt, |row| rows::inline_to_json(columns, row)) {
            return Ok(records);
        }
        let rows = errors::map(&self.table, Action::Read, db.query_all(stmt).await)?;
        rows::all_to_json(columns, &rows)
    }

    /// The number a `SELECT COUNT(*)` answers.
    async fn count(&self, db: Db<'_>, stmt: &SelectStatement) -> Result<u64> {
        let stmt = db.build(stmt);
        if let Some(counts) = db.query_inline(&stmt, |row| row.get::<_, i64>(0).ok()) {
            return Ok(counts.first().map_or(0, |&n| u64::try_from(n).unwrap_or(0)));
        }
        let row = errors::map(&self.table, Action::Read, db.query_one(stmt).await)?;
        rows::count(row)
    }

    /// The readable record with this id, ignoring any query (for wrapping services).
    pub async fn find_by_id(&self, db: Db<'_>, id: i64) -> Result<Option<Value>> {
        let columns = self.table.output_columns(None)?;
        let stmt = self
            .select(&columns, filter::condition_with_id(&self.table, id, &[])?)
            .limit(1)
            .to_owned();
        Ok(self.fetch(db, &columns, &stmt).await?.into_iter().next())
    }

    async fn insert_one(
        &self,
        ctx: &Ctx<'_>,
        data: &Value,
        columns: &[&Column],
        server: &Map<String, Value>,
    ) -> Result<Value> {
        let values = data::prepare(
            &self.table,
            data,
            Mode::Create,
            ctx.params.is_internal(),
            server,
            &[],
        )?;
        let mut insert = Sql::insert();
        insert.into_table(self.table.name);
        if values.is_empty() {
            insert.or_default_values();
        } else {
            insert.columns(values.iter().map(|(name, _)| *name));
            insert
                .values(values.iter().map(|(_, v)| Expr::val(v.clone())))
                .map_err(Error::internal)?;
        }
        insert.returning(Self::returning(columns));
        let row = match ctx.db.query_one(ctx.db.build(&insert)).await {
            Ok(row) => row,
            Err(e) => return Err(errors::write_error(ctx.db, &self.table, e, &values).await),
        };
        let row = row.ok_or_else(|| Error::internal("insert returned no row"))?;
        rows::to_json(columns, &row)
    }

    /// `UPDATE ... SET values WHERE cond RETURNING columns`.
    async fn update_where(
        &self,
        ctx: &Ctx<'_>,
        values: Values,
        cond: Condition,
        columns: &[&Column],
    ) -> Result<Vec<Value>> {
        let mut update = Sql::update();
        update.table(self.table.name);
        if values.is_empty() {
            // Nothing to change (and no timestamps): still report the matched rows.
            update.value(ID, Expr::col(ID));
        } else {
            update.values(values.iter().map(|(name, v)| (*name, Expr::val(v.clone()))));
        }
        update.cond_where(cond).returning(Self::returning(columns));
        match ctx.db.query_all(ctx.db.build(&update)).await {
            Ok(rows) => rows::all_to_json(columns, &rows),
            Err(e) => Err(errors::write_error(ctx.db, &self.table, e, &values).await),
        }
    }

    /// One record of a `create`, through the rules.
    async fn create_one(&self, ctx: &Ctx<'_>, data: Value, columns: &[&Column]) -> Result<Value> {
        let mut prepared = self.before(ctx, Change::Create, data).await?;
        if let Some(stand_in) = prepared.stand_in.take() {
            return self.stand_in(ctx, prepared, stand_in, columns).await;
        }
        let record = self
            .insert_one(ctx, &prepared.data, columns, &prepared.server)
            .await?;
        self.after(ctx, Change::Create, &record).await?;
        Ok(record)
    }

    /// Inserts `data` in a savepoint rolled back at once: the row as it would be stored.
    async fn insert_undone(
        &self,
        ctx: &Ctx<'_>,
        data: &Value,
        columns: &[&Column],
        server: &Map<String, Value>,
    ) -> Result<Value> {
        use sea_orm::TransactionTrait;
        let savepoint = match ctx.db {
            Db::Tx(tx) => tx.begin().await,
            Db::Pool(pool) => pool.begin().await,
            Db::Inline(writer) => {
                const NAME: &str = "stand_in";
                writer
                    .savepoint(NAME, Savepoint::Open)
                    .map_err(Error::internal)?;
                let record = self.insert_one(ctx, data, columns, server).await;
                writer
                    .savepoint(NAME, Savepoint::RollBack)
                    .map_err(Error::internal)?;
                return record;
            }
        }
        .map_err(Error::internal)?;
        let inner = Ctx {
            db: Db::Tx(&savepoint),
            params: ctx.params,
            path: ctx.path,
            effects: ctx.effects,
            pipeline: ctx.pipeline,
        };
        // The id is among the columns read back whatever `$select` says.
        let record = self.insert_one(&inner, data, columns, server).await?;
        savepoint.rollback().await.map_err(Error::internal)?;
        Ok(record)
    }

    /// The answer of a create that writes nothing ([`StandIn`]): the insert runs in a
    /// savepoint that is rolled back, and its id stays used up on both backends (a
    /// PostgreSQL sequence never goes back; SQLite's is moved past it), so the next row's
    /// id does not tell that this one was never kept.
    async fn stand_in(
        &self,
        ctx: &Ctx<'_>,
        prepared: Prepared,
        stand_in: StandIn,
        columns: &[&Column],
    ) -> Result<Value> {
        let mut data = prepared.data;
        if let Value::Object(map) = &mut data {
            map.extend(stand_in.placeholders);
        }
        let mut record = self
            .insert_undone(ctx, &data, columns, &prepared.server)
            .await?;
        if let Some(id) = record.get(ID).and_then(Value::as_i64)
            && ctx.db.backend() == sea_orm::DatabaseBackend::Sqlite
        {
            use sea_orm::sea_query::ExprTrait;
            let used = Sql::update()
                .table("sqlite_sequence")
                .value("seq", id)
                .and_where(Expr::col("name").eq(self.table.name))
                .and_where(Expr::col("seq").lt(id))
                .to_owned();
            ctx.db
                .execute(ctx.db.build(&used))
                .await
                .map_err(Error::internal)?;
        }
        if let Value::Object(map) = &mut record {
            for (field, value) in stand_in.shown {
                if map.contains_key(&field) {
                    map.insert(field, value);
                }
            }
        }
        ctx.effects.mark_unchanged();
        Ok(record)
    }

    /// The one record a `patch` or `remove` names, or `None` for a multi call (refused
    /// when the service has rules).
    fn single<'t>(&self, target: &Target<'t>, method: Method) -> Result<Option<&'t Value>> {
        if target.id.is_none() && self.rules.is_some() {
            return Err(Error::method_not_allowed(format!(
                "Can not {} multiple entries",
                method.as_str()
            )));
        }
        Ok(target.id)
    }

    /// The rows a `patch` / `remove` acts on: one id (which must also match the query) or,
    /// when `multi` allows it, every row matching the query (`$limit`/`$skip`/`$sort` do not
    /// apply to multi operations).
    fn target<'t>(
        &'t self,
        ctx: &Ctx<'_>,
        id: Option<&'t Value>,
        method: Method,
    ) -> Result<Target<'t>> {
        let id = id.filter(|id| !id.is_null());
        if id.is_none() && !self.multi.allows(method) {
            return Err(Error::method_not_allowed(format!(
                "Can not {} multiple entries",
                method.as_str()
            )));
        }
        let query = Self::query(ctx)?;
        let columns = self.table.output_columns(query.select.as_deref())?;
        let cond = match id {
            Some(id) => {
                let row_id = parse_id(id).ok_or_else(|| Error::no_record(id_display(id)))?;
                filter::condition_with_id(&self.table, row_id, &query.filters)?
            }
            None => filter::condition(&self.table, &query.filters)?,
        };
        Ok(Target { id, columns, cond })
    }
}

/// What [`SqlService::target`] selected.
struct Target<'t> {
    id: Option<&'t Value>,
    columns: Vec<&'t Column>,
    cond: Condition,
}

impl Target<'_> {
    /// The single record for an id (404 when nothing matched), or every record as an array.
    fn answer(&self, mut records: Vec<Value>) -> Result<Value> {
        match self.id {
            Some(id) => records
                .drain(..)
                .next()
                .ok_or_else(|| Error::no_record(id_display(id))),
            None => Ok(Value::Array(records)),
        }
    }
}

#[async_trait]
impl Service for SqlService {
    fn methods(&self) -> &'static [Method] {
        self.methods
    }

    fn schema(&self) -> Option<Value> {
        let mut schema = self.table.json_schema();
        schema["paginated"] = Value::Bool(self.paginate.is_some());
        if let Some(rules) = &self.rules {
            rules.schema(&mut schema);
        }
        Some(schema)
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    async fn authorize(&self, caller: &Caller<'_>, call: &mut Call) -> Result<()> {
        match &self.rules {
            Some(rules) => rules.authorize(caller, call).await,
            None => Ok(()),
        }
    }

    fn parse(&self, call: &mut Call) -> Result<()> {
        if let Some(id) = call.id.as_mut()
            && let Some(row_id) = parse_id(id)
        {
            *id = json!(row_id);
        }
        let internal = call.params.is_internal();
        match &mut call.data {
            Value::Object(data) => data::canonicalize(&self.table, data, internal),
            Value::Array(items) => items.iter_mut().try_for_each(|item| match item {
                Value::Object(data) => data::canonicalize(&self.table, data, internal),
                _ => Ok(()),
            }),
            _ => Ok(()),
        }
    }

    async fn find(&self, ctx: &Ctx<'_>) -> Result<Value> {
        let query = Self::query(ctx)?;
        let columns = self.table.output_columns(query.select.as_deref())?;
        let cond = filter::condition(&self.table, &query.filters)?;
        let mut stmt = self.select(&columns, cond.clone());
        filter::apply_sort(&self.table, &query.sort, &mut stmt)?;
        let skip = clamp(query.skip.unwrap_or(0));
        let limit = match self.paginate {
            Some(p) => Some(query.limit.unwrap_or(p.default).min(p.max)),
            None => query.limit.map(clamp),
        };
        let data = match limit {
            Some(0) => Vec::new(),
            _ => {
                match limit {
                    Some(limit) => {
                        stmt.limit(limit);
                    }
                    // SQLite has no OFFSET without LIMIT.
                    None if skip > 0 => {
                        stmt.limit(i64::MAX as u64);
                    }
                    None => {}
                }
                if skip > 0 {
                    stmt.offset(skip);
                }
                self.fetch(ctx.db, &columns, &stmt).await?
            }
        };
        let Some(_) = self.paginate else {
            return Ok(Value::Array(data));
        };
        let count = Sql::select()
            .expr(Func::count(Expr::col(Asterisk)))
            .from(self.table.name)
            .cond_where(cond)
            .to_owned();
        let total = self.count(ctx.db, &count).await?;
        Ok(json!({ "total": total, "limit": limit.unwrap_or(0), "skip": skip, "data": data }))
    }

    async fn get(&self, ctx: &Ctx<'_>, id: &Value) -> Result<Value> {
        let Some(row_id) = parse_id(id) else {
            return Err(Error::no_record(id_display(id)));
        };
        let query = Self::query(ctx)?;
        let columns = self.table.output_columns(query.select.as_deref())?;
        let cond = filter::condition_with_id(&self.table, row_id, &query.filters)?;
        let stmt = self.select(&columns, cond).limit(1).to_owned();
        self.fetch(ctx.db, &columns, &stmt)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::no_record(id_display(id)))
    }

    async fn create(&self, ctx: &Ctx<'_>, data: Value) -> Result<Value> {
        let select = Self::create_select(ctx)?;
        let columns = self.table.output_columns(select.as_deref())?;
        match data {
            Value::Array(items) => {
                if !self.multi.allows(Method::Create) {
                    return Err(Error::method_not_allowed("Can not create multiple entries"));
                }
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.create_one(ctx, item, &columns).await?);
                }
                Ok(Value::Array(out))
            }
            data => self.create_one(ctx, data, &columns).await,
        }
    }

    async fn update(&self, ctx: &Ctx<'_>, id: Option<&Value>, data: Value) -> Result<Value> {
        let id = match id {
            Some(id) if !id.is_null() && !data.is_array() => id,
            _ => {
                return Err(Error::bad_request(
                    "You can not replace multiple instances. Did you mean 'patch'?",
                ));
            }
        };
        let Some(row_id) = parse_id(id) else {
            return Err(Error::no_record(id_display(id)));
        };
        let query = Self::query(ctx)?;
        let columns = self.table.output_columns(query.select.as_deref())?;
        let prepared = self.before(ctx, Change::Update(id), data).await?;
        let values = data::prepare(
            &self.table,
            &prepared.data,
            Mode::Update,
            ctx.params.is_internal(),
            &prepared.server,
            &prepared.keep,
        )?;
        let cond = filter::condition_with_id(&self.table, row_id, &query.filters)?;
        let record = self
            .update_where(ctx, values, cond, &columns)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::no_record(id_display(id)))?;
        self.after(ctx, Change::Update(id), &record).await?;
        Ok(record)
    }

    /// `patch` (merge). `id: None` patches every match (if `multi`).
    async fn patch(&self, ctx: &Ctx<'_>, id: Option<&Value>, data: Value) -> Result<Value> {
        let target = self.target(ctx, id, Method::Patch)?;
        let prepared = match self.single(&target, Method::Patch)? {
            Some(id) => self.before(ctx, Change::Patch(id), data).await?,
            None => Prepared::new(data),
        };
        let values = data::prepare(
            &self.table,
            &prepared.data,
            Mode::Patch,
            ctx.params.is_internal(),
            &prepared.server,
            &prepared.keep,
        )?;
        let records = self
            .update_where(ctx, values, target.cond.clone(), &target.columns)
            .await?;
        let answer = target.answer(records)?;
        if let Some(id) = target.id {
            self.after(ctx, Change::Patch(id), &answer).await?;
        }
        Ok(answer)
    }

    async fn remove(&self, ctx: &Ctx<'_>, id: Option<&Value>) -> Result<Value> {
        let target = self.target(ctx, id, Method::Remove)?;
        if let (Some(id), Some(rules)) = (self.single(&target, Method::Remove)?, &self.rules) {
            rules.before_remove(ctx, self, id).await?;
        }
        let delete = Sql::delete()
            .from_table(self.table.name)
            .cond_where(target.cond.clone())
            .returning(Self::returning(&target.columns))
            .to_owned();
        let rows = errors::map(
            &self.table,
            Action::Delete,
            ctx.db.query_all(ctx.db.build(&delete)).await,
        )?;
        let answer = target.answer(rows::all_to_json(&target.columns, &rows)?)?;
        if let Some(id) = target.id {
            self.after(ctx, Change::Remove(id), &answer).await?;
        }
        Ok(answer)
    }
}
