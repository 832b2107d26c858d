//! `POST /v1/classify`: classifier runs (`textgan classify train`) answer which class each text
//! is, with every class's probability. A classifier is answered off the async executor, one
//! request at a time.
use super::errors::{ApiError, ApiResult};
use crate::classify::Classifier;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// A classifier run the server answers for.
pub struct ClassifierHandle {
    pub name: String,
    pub model: Arc<Mutex<Classifier>>,
}

/// The body of `POST /v1/classify`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRequest {
    /// The texts to label.
    pub texts: Vec<String>,
    /// The classifier's name (default: the first).
    #[serde(default)]
    pub model: Option<String>,
}

fn find<'a>(all: &'a [ClassifierHandle], name: Option<&str>) -> ApiResult<&'a ClassifierHandle> {
    let names = || {
        all.iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        None => all.first().ok_or_else(|| {
            ApiError::bad("no classifier is served (start the server with --classifier DIR)")
        }),
        Some(n) => all.iter().find(|c| c.name == n).ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                format!("unknown classifier `{n}`: the classifiers are {}", names()),
            )
        }),
    }
}

/// The answer to `req` from one of `all`, `max_texts` texts at most.
pub async fn answer(
    all: &[ClassifierHandle],
    max_texts: usize,
    req: ClassifyRequest,
) -> ApiResult<Value> {
    if req.texts.is_empty() || req.texts.len() > max_texts {
        return Err(ApiError::bad(format!("texts: give 1 to {max_texts} texts")));
    }
    let handle = find(all, req.model.as_deref())?;
    let model = handle.model.clone();
    let texts = req.texts.clone();
    let probs = tokio::task::spawn_blocking(move || {
        let c = model.lock().unwrap_or_else(|e| e.into_inner());
        c.probabilities(&texts).map(|p| (c.spec.labels.clone(), p))
    })
    .await
    .map_err(|_| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the classifier stopped".into(),
        )
    })?
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let (labels, p) = probs;
    let rows: Vec<Vec<f32>> = Vec::try_from(p)
        .map_err(|e: tch::TchError| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let results: Vec<Value> = rows
        .iter()
        .zip(&req.texts)
        .map(|(row, text)| {
            let best = row
                .iter()
                .enumerate()
                .fold(0, |b, (i, &x)| if x > row[b] { i } else { b });
            let all: serde_json::Map<String, Value> = labels
                .iter()
                .zip(row)
                .map(|(l, &x)| (l.clone(), json!(x)))
                .collect();
            json!({"text": text, "label": labels[best], "probability": row[best], "probabilities": all})
        })
        .collect();
    Ok(json!({"model": handle.name, "labels": labels, "results": results}))
}
