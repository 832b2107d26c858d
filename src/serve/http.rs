//! The HTTP side: routes, request checks, JSON errors, Prometheus metrics, shutdown.
use super::errors::{body, json_errors, ApiError, ApiResult};
pub use super::metrics::Metrics;
use super::metrics::{proc_status_bytes, RequestLabels, RouteLabels};
use super::openai::CompletionRequest;
use super::worker::{Failure, Job};
use super::{Limits, RunHandle};
use crate::infer::{Draw, Scoring, Text};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path as UrlPath, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The web page, with its script and styles inline (no build step, no network).
const PAGE: &str = include_str!("page.html");

/// What the routes share: the runs and the limits.
pub struct App {
    pub runs: Vec<RunHandle>,
    /// Classifier runs, answered by `POST /v1/classify`.
    pub classifiers: Vec<super::classify::ClassifierHandle>,
    /// `textgan sweep` output directories by name, whose quality-diversity plots are shown.
    pub sweeps: Vec<(String, std::path::PathBuf)>,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    pub started: Instant,
}

impl App {
    fn run(&self, name: Option<&str>) -> ApiResult<&RunHandle> {
        match name {
            None => self.runs.first().ok_or_else(|| ApiError::bad("no runs")),
            Some(n) => self.runs.iter().find(|r| r.name == n).ok_or_else(|| {
                let names: Vec<&str> = self.runs.iter().map(|r| r.name.as_str()).collect();
                ApiError(
                    StatusCode::NOT_FOUND,
                    format!("unknown run `{n}`: the runs are {}", names.join(", ")),
                )
            }),
        }
    }

    /// Queues a job on a run's thread (a full queue: 503).
    fn submit(
        &self,
        run: &RunHandle,
        make: impl FnOnce(super::worker::Reply) -> Job,
    ) -> ApiResult<tokio::sync::oneshot::Receiver<std::result::Result<Vec<Text>, Failure>>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if !run.submit(make(tx)) {
            self.metrics.refused.inc();
            return Err(ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("run `{}` is busy: its queue is full; try again", run.name),
            ));
        }
        Ok(rx)
    }

    /// Queues a job and waits for its texts.
    async fn ask(
        &self,
        run: &RunHandle,
        make: impl FnOnce(super::worker::Reply) -> Job,
    ) -> ApiResult<Vec<Text>> {
        wait(self.submit(run, make)?).await
    }
}

/// The texts a queued job gets.
async fn wait(
    rx: tokio::sync::oneshot::Receiver<std::result::Result<Vec<Text>, Failure>>,
) -> ApiResult<Vec<Text>> {
    match rx.await {
        Ok(r) => r.map_err(ApiError::from),
        Err(_) => Err(ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the run's worker stopped".into(),
        )),
    }
}

/// The routes; `max_body` bytes a request body at most, `timeout` a request at most.
pub fn router(app: Arc<App>, max_body: usize, timeout: Duration) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/runs", get(runs))
        .route("/v1/runs/{name}", get(run_detail))
        .route("/v1/plots", get(plots))
        .route("/v1/chart", get(chart))
        .route("/v1/sweeps", get(sweeps))
        .route("/v1/sweeps/{name}", get(sweep_plot))
        .route("/v1/generate", post(generate))
        .route("/v1/score", post(score))
        .route("/v1/completions", post(completions))
        .route("/v1/classify", post(classify))
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), track))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such route".into()) })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::from_fn(move |req, next| {
            json_errors(max_body, req, next)
        }))
        .with_state(app)
}

/// Counts each request and times it, by route.
async fn track(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("?", |m| m.as_str())
        .to_string();
    let t = Instant::now();
    let resp = next.run(req).await;
    let m = &app.metrics;
    m.latency
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(t.elapsed().as_secs_f64());
    m.requests
        .get_or_create(&RequestLabels {
            route,
            status: resp.status().as_u16().to_string(),
        })
        .inc();
    resp
}

async fn health(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "runs": app.runs.len(),
        "uptime_s": app.started.elapsed().as_secs_f64(),
    }))
}

async fn metrics(State(app): State<Arc<App>>) -> ApiResult<Response> {
    app.metrics.rss.set(proc_status_bytes("VmRSS"));
    app.metrics.peak_rss.set(proc_status_bytes("VmHWM"));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &app.metrics.registry)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response())
}

async fn runs(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({"runs": app.runs.iter().map(|r| &r.info).collect::<Vec<_>>()}))
}

/// A run's config, metrics series and latest samples (read from its own directory only).
async fn run_detail(
    State(app): State<Arc<App>>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    let run = app.run(Some(&name))?;
    let dir = run.dir.clone();
    let (records, samples) = tokio::task::spawn_blocking(move || {
        (
            super::report::records(&dir),
            super::report::latest_samples(&dir),
        )
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let (file, lines) = samples.unwrap_or_default();
    Ok(Json(json!({
        "info": run.info,
        "config": run.info.config,
        "metrics": records,
        "samples": {"file": file, "lines": lines},
    })))
}

async fn plots() -> Json<Value> {
    let list: Vec<Value> = crate::eval::plot::training_plot_names()
        .into_iter()
        .map(|(stem, title)| json!({"name": stem, "title": title}))
        .collect();
    Json(json!({ "plots": list }))
}

async fn sweeps(State(app): State<Arc<App>>) -> Json<Value> {
    let names: Vec<&str> = app.sweeps.iter().map(|s| s.0.as_str()).collect();
    Json(json!({ "sweeps": names }))
}

/// A sweep's plot (its quality-diversity or beam-width plot, and nothing else of it).
async fn sweep_plot(
    State(app): State<Arc<App>>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult<Response> {
    let Some((_, dir)) = app.sweeps.iter().find(|s| s.0 == name) else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("unknown sweep `{name}`"),
        ));
    };
    let path = super::sweep_plot(dir).unwrap_or_else(|| dir.join(super::SWEEP_PLOTS[0]));
    let svg = tokio::fs::read_to_string(&path).await.map_err(|e| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("sweep `{name}`: no plot ({e})"),
        )
    })?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

#[derive(serde::Deserialize)]
struct ChartQuery {
    runs: String,
    plot: String,
}

/// One training plot over the runs named (comma-separated), as SVG.
async fn chart(State(app): State<Arc<App>>, Query(q): Query<ChartQuery>) -> ApiResult<Response> {
    let mut dirs = Vec::new();
    for name in q.runs.split(',').filter(|s| !s.is_empty()) {
        let r = app.run(Some(name))?;
        dirs.push((r.name.clone(), r.dir.clone()));
    }
    if dirs.is_empty() {
        return Err(ApiError::bad("runs: name at least one run"));
    }
    if !crate::eval::plot::training_plot_names()
        .iter()
        .any(|p| p.0 == q.plot)
    {
        return Err(ApiError::bad(format!(
            "unknown plot `{}` (GET /v1/plots lists them)",
            q.plot
        )));
    }
    let plot = q.plot.clone();
    let svg = tokio::task::spawn_blocking(move || {
        let runs: Vec<(String, Vec<crate::record::Metrics>)> = dirs
            .into_iter()
            .map(|(n, d)| (n, super::report::records(&d)))
            .collect();
        crate::eval::plot::compare_runs(&runs, &plot)
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match svg {
        Some(s) => Ok(([(header::CONTENT_TYPE, "image/svg+xml")], s).into_response()),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            "no values to plot yet".into(),
        )),
    }
}

async fn generate(
    State(app): State<Arc<App>>,
    b: std::result::Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let draw: Draw = body(b)?;
    app.limits.check_draw(&draw)?;
    let run = app.run(draw.run.as_deref())?;
    let started = Instant::now();
    let texts = app.ask(run, |r| Job::Generate(draw, r)).await?;
    Ok(Json(json!({
        "run": run.name,
        "texts": texts,
        "elapsed_ms": started.elapsed().as_secs_f64() * 1e3,
    })))
}

async fn score(
    State(app): State<Arc<App>>,
    b: std::result::Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let s: Scoring = body(b)?;
    app.limits.check_scoring(&s)?;
    let run = app.run(s.run.as_deref())?;
    let texts = app.ask(run, |r| Job::Score(s, r)).await?;
    Ok(Json(json!({"run": run.name, "texts": texts})))
}

async fn classify(
    State(app): State<Arc<App>>,
    b: std::result::Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let req = body(b)?;
    let v = super::classify::answer(&app.classifiers, app.limits.max_texts, req).await?;
    Ok(Json(v))
}

async fn completions(
    State(app): State<Arc<App>>,
    b: std::result::Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let req: CompletionRequest = body(b)?;
    let draws = req.draws()?;
    let run = app.run(req.model.as_deref())?;
    for d in &draws {
        app.limits.check_draw(d)?;
    }
    let total: usize = draws.iter().map(|d| d.n).sum();
    if total > app.limits.max_n {
        return Err(ApiError::bad(format!(
            "prompts times n asks for {total} texts; at most {} a request",
            app.limits.max_n
        )));
    }
    // Every prompt is queued before any is awaited, so they can share a batch.
    let mut waiting = Vec::new();
    for d in draws.iter().cloned() {
        waiting.push(app.submit(run, |r| Job::Generate(d, r))?);
    }
    let mut texts = Vec::new();
    for w in waiting {
        texts.push(wait(w).await?);
    }
    Ok(Json(req.response(&run.name, &texts)))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}
