//! The one row mapping: how a result row becomes a value, by column name, the same on sqlx's
//! `Any` rows (PostgreSQL, and SQLite through the pool) and on the synchronous SQLite readers'
//! rows (`sqlite_read`).
//!
//! A row type implements [`Record`] once, against [`Row::get`], which finds a column by its name:
//! a SELECT whose columns are reordered, or gain one, still fills every field from its own
//! column, where reading by position would silently move a value into another field of the same
//! type. A column the type asks for and the statement lacks is an error, never a default.
//!
//! It must not run statements (`reader` does) nor know a table; each table's module brings its
//! row types and their SQL.

use std::cell::{Cell, RefCell};

use sqlx::{Any, Row as _, any::AnyRow};

/// A value a column can hold, readable from both kinds of row.
pub(crate) trait Column: rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> {}

impl<T: rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>> Column for T {}

/// One result row, whose columns are read by name.
pub(crate) trait Row {
    type Error;

    /// The value of the column `name` (as the SELECT names it, `AS` alias included).
    fn get<T: Column>(&self, name: &'static str) -> Result<T, Self::Error>;
}

/// A type built from one row, by column name; the one mapping both kinds of row use.
pub(crate) trait Record: Sized {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error>;
}

impl Row for AnyRow {
    type Error = sqlx::Error;

    /// sqlx keeps each statement's column names in a map shared by its rows: one lookup.
    fn get<T: Column>(&self, name: &'static str) -> Result<T, sqlx::Error> {
        self.try_get(name)
    }
}

/// Lets `sqlx::query_as` build a [`Record`] type through its one mapping, for the modules that
/// still run their statements with sqlx directly.
macro_rules! sqlx_from_row {
    ($($ty:ty),+ $(,)?) => {$(
        impl<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> for $ty {
            fn from_row(row: &'r sqlx::any::AnyRow) -> sqlx::Result<Self> {
                <$ty as $crate::store::row::Record>::from_row(row)
            }
        }
    )+};
}
pub(crate) use sqlx_from_row;

/// Where the columns a row type asks for sit in one statement's result, in the order it asks
/// for them: found by name on the first row, reused for the others. Each entry keeps the name
/// it was found for and is used only for that name, so a type that asks in another order still
/// gets its own columns (found again, which is only slower).
#[derive(Default)]
pub(crate) struct ColumnCache {
    found: RefCell<Vec<(&'static str, usize)>>,
    /// How many columns the current row has been asked for.
    asked: Cell<usize>,
}

impl ColumnCache {
    /// For a statement of `columns` columns: one allocation per statement, none per row.
    pub fn with_capacity(columns: usize) -> Self {
        Self { found: RefCell::new(Vec::with_capacity(columns)), asked: Cell::new(0) }
    }
}

/// A row of a synchronous SQLite reader, read by name through its statement's [`ColumnCache`].
pub(crate) struct SqliteRow<'a, 'stmt> {
    row: &'a rusqlite::Row<'stmt>,
    columns: &'a ColumnCache,
}

impl<'a, 'stmt> SqliteRow<'a, 'stmt> {
    /// The next row of the statement `columns` belongs to (one cache per statement run).
    pub fn new(row: &'a rusqlite::Row<'stmt>, columns: &'a ColumnCache) -> Self {
        columns.asked.set(0);
        Self { row, columns }
    }

    /// The position of the column `name`: where the last column asked for was found plus one
    /// is tried first (row types mostly ask in the SELECT's order), then every column.
    fn find(&self, name: &str, after: Option<usize>) -> rusqlite::Result<usize> {
        let statement = self.row.as_ref();
        let guess = after.map_or(0, |i| i + 1);
        if guess < statement.column_count()
            && statement.column_name(guess).is_ok_and(|found| found.eq_ignore_ascii_case(name))
        {
            return Ok(guess);
        }
        statement.column_index(name)
    }
}

impl Row for SqliteRow<'_, '_> {
    type Error = rusqlite::Error;

    fn get<T: Column>(&self, name: &'static str) -> rusqlite::Result<T> {
        let asked = self.columns.asked.get();
        self.columns.asked.set(asked + 1);
        let known = self.columns.found.borrow().get(asked).and_then(|&(known, index)| (known == name).then_some(index));
        let index = match known {
            Some(index) => index,
            None => {
                let after = asked.checked_sub(1).and_then(|i| self.columns.found.borrow().get(i).map(|&(_, at)| at));
                let index = self.find(name, after)?;
                let mut found = self.columns.found.borrow_mut();
                found.truncate(asked);
                found.push((name, index));
                index
            }
        };
        self.row.get(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two fields of one type next to a third of another: the shape a positional mapping gets
    /// wrong without an error when a SELECT lists them in another order.
    #[derive(Debug, PartialEq)]
    struct Person {
        email: String,
        name: String,
        age: i64,
    }

    impl Record for Person {
        fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
            Ok(Self { email: row.get("email")?, name: row.get("name")?, age: row.get("age")? })
        }
    }

    const TABLE: &str = "CREATE TABLE people (email TEXT NOT NULL, name TEXT NOT NULL, age BIGINT NOT NULL);
        INSERT INTO people VALUES ('ada@example.com', 'Ada', 36), ('alan@example.com', 'Alan', 41);";

    /// The struct's order; its two TEXT columns swapped (read by position, each would land in
    /// the other's field without an error); every column moved, behind an extra one and an alias.
    const SELECTS: [&str; 3] = [
        "SELECT email, name, age FROM people ORDER BY age",
        "SELECT name, email, age FROM people ORDER BY age",
        "SELECT 0 AS other, age, name, email AS email FROM people ORDER BY age",
    ];

    fn expected() -> Vec<Person> {
        vec![
            Person { email: "ada@example.com".into(), name: "Ada".into(), age: 36 },
            Person { email: "alan@example.com".into(), name: "Alan".into(), age: 41 },
        ]
    }

    fn read_sqlite(conn: &rusqlite::Connection, sql: &str) -> rusqlite::Result<Vec<Person>> {
        let mut statement = conn.prepare(sql)?;
        let columns = ColumnCache::default();
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(Person::from_row(&SqliteRow::new(row, &columns))?);
        }
        Ok(out)
    }

    #[test]
    fn a_reordered_select_maps_by_name_on_a_sqlite_reader() -> anyhow::Result<()> {
        let conn = rusqlite::Connection::open_in_memory()?;
        conn.execute_batch(TABLE)?;
        for sql in SELECTS {
            assert_eq!(read_sqlite(&conn, sql)?, expected(), "{sql}");
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_reordered_select_maps_by_name_on_sqlx() -> anyhow::Result<()> {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect("sqlite::memory:").await?;
        sqlx::raw_sql(TABLE).execute(&mut conn).await?;
        for sql in SELECTS {
            let rows = sqlx::query(sql).fetch_all(&mut conn).await?;
            let people = rows.iter().map(Person::from_row).collect::<Result<Vec<_>, _>>()?;
            assert_eq!(people, expected(), "{sql}");
        }
        Ok(())
    }

    #[test]
    fn a_missing_column_is_an_error_not_a_default() -> anyhow::Result<()> {
        let conn = rusqlite::Connection::open_in_memory()?;
        conn.execute_batch(TABLE)?;
        let result = read_sqlite(&conn, "SELECT email, age FROM people");
        assert!(matches!(result, Err(rusqlite::Error::InvalidColumnName(ref c)) if c == "name"), "{result:?}");
        Ok(())
    }

    /// The cache holds positions by name: a type that asks for its columns in another order on
    /// a later row (or two types on one statement) still reads each from its own column.
    #[test]
    fn the_column_cache_never_answers_for_another_name() -> anyhow::Result<()> {
        let conn = rusqlite::Connection::open_in_memory()?;
        conn.execute_batch(TABLE)?;
        let mut statement = conn.prepare("SELECT name, email FROM people ORDER BY age")?;
        let columns = ColumnCache::default();
        let mut rows = statement.raw_query();
        let first = rows.next()?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
        let row = SqliteRow::new(first, &columns);
        assert_eq!((row.get::<String>("name")?, row.get::<String>("email")?), ("Ada".into(), "ada@example.com".into()));
        let second = rows.next()?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
        let row = SqliteRow::new(second, &columns);
        assert_eq!(
            (row.get::<String>("email")?, row.get::<String>("name")?),
            ("alan@example.com".into(), "Alan".into())
        );
        Ok(())
    }
}
