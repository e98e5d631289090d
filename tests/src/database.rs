//! One fresh database per test, on SQLite or PostgreSQL.

use sea_orm::{ConnectionTrait, Database};

/// Which SQL backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that belongs to one test.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    /// Keeps the SQLite file's folder alive; removed on drop.
    sqlite_dir: Option<std::path::PathBuf>,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
        }
    }

    fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("gatehouse-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        let url = format!("sqlite://{}", dir.join("gatehouse.db").display());
        Self { url, sqlite_dir: Some(dir) }
    }

    /// Creates `gatehouse_test_<random>` on the server named by
    /// `TEST_DATABASE_URL` (the README's test command starts one).
    async fn postgres() -> Self {
        let admin_url = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
            panic!("TEST_DATABASE_URL is not set: run the suite through `.ci/run` (or ./scripts/test), which starts PostgreSQL")
        });
        let admin = Database::connect(admin_url.as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at TEST_DATABASE_URL={admin_url}: {e}"));
        let name = format!("gatehouse_test_{}", uuid::Uuid::new_v4().simple());
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create the test database");
        let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base);
        Self { url: format!("{base}/{name}"), sqlite_dir: None }
    }

    /// A database the test made elsewhere (a server of its own), kept as it is.
    pub fn at(url: String) -> Self {
        Self { url, sqlite_dir: None }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
