//! The operator CLI's client for the admin's own HTTP API (`/v1`): bearer key, JSON in and
//! out, problem documents turned into errors that say what the server said.
//!
//! The key comes from `--key` or `OCTODBADMIN_KEY`, deliberately not `OCTODB_*`: every
//! `OCTODB_*` variable is a configuration override, and the configuration refuses unknown
//! fields. Requests that meet a 429 wait as `Retry-After` says and try again.

use std::time::Duration;

use serde_json::Value;

/// Environment variable holding the operator key.
pub const KEY_ENV: &str = "OCTODBADMIN_KEY";
/// Environment variable holding the API's base URL.
pub const URL_ENV: &str = "OCTODBADMIN_URL";

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How often a rate-limited request is tried again.
const RATE_LIMIT_RETRIES: u32 = 5;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Bad command-line input (URL, key).
    #[error("{0}")]
    Usage(String),
    /// The server could not be reached or the exchange broke off.
    #[error("cannot reach the admin API at {url}: {error}")]
    Unreachable { url: String, error: reqwest::Error },
    /// The server answered with an error (its problem document's title and detail).
    #[error("{status} {title}: {detail}")]
    Problem {
        status: u16,
        title: String,
        detail: String,
    },
    /// The server answered something that is not the expected JSON.
    #[error("unexpected answer from {url}: {message}")]
    Unexpected { url: String, message: String },
}

impl ClientError {
    /// Whether trying again later may help (connection trouble, 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Unreachable { .. } => true,
            ClientError::Problem { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// A client of one admin API with one key.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl ApiClient {
    /// `base` is `http(s)://host:port` (a trailing `/` is ignored); `key` an API key secret.
    pub fn new(base: &str, key: &str) -> Result<ApiClient, ClientError> {
        let base = base.trim().trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&base)
            .map_err(|e| ClientError::Usage(format!("invalid --url {base:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ClientError::Usage(format!(
                "--url must be http or https, not {:?}",
                url.scheme()
            )));
        }
        let key = key.trim();
        if key.is_empty() {
            return Err(ClientError::Usage(format!(
                "an operator key is needed: --key or {KEY_ENV}"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("octodb-admin-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Usage(format!("cannot build the HTTP client: {e}")))?;
        Ok(ApiClient {
            base,
            key: key.to_string(),
            http,
        })
    }

    /// `GET path` -> JSON.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// `POST path` with a JSON body -> JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call(reqwest::Method::POST, path, Some(body.to_string()))
            .await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.key);
            if let Some(b) = &body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.clone());
            }
            let unreachable = |error| ClientError::Unreachable {
                url: url.clone(),
                error,
            };
            let response = req.send().await.map_err(unreachable)?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let text = response.text().await.map_err(unreachable)?;
            if status == 429 && attempt < RATE_LIMIT_RETRIES {
                attempt += 1;
                let wait = retry_after.unwrap_or(1).clamp(1, 30);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            return answer(&url, status, &text);
        }
    }
}

/// The JSON of a 2xx answer, or the problem of any other.
fn answer(url: &str, status: u16, text: &str) -> Result<Value, ClientError> {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    if (200..300).contains(&status) {
        return parsed.ok_or_else(|| ClientError::Unexpected {
            url: url.to_string(),
            message: format!("status {status} with a body that is not JSON"),
        });
    }
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|p| p[name].as_str())
            .map(str::to_string)
    };
    Err(ClientError::Problem {
        status,
        title: field("title").unwrap_or_else(|| "error".to_string()),
        detail: field("detail").unwrap_or_else(|| text.chars().take(200).collect()),
    })
}

/// `http://<addr>` for a listen address, a wildcard address made loopback.
pub fn url_for_listen(addr: std::net::SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => {
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        }
        ip => ip,
    };
    format!("http://{}", std::net::SocketAddr::new(ip, addr.port()))
}

/// The id of template `name_or_id` (a number is taken as an id).
pub async fn template_id(client: &ApiClient, name_or_id: &str) -> Result<u64, ClientError> {
    if let Ok(id) = name_or_id.parse() {
        return Ok(id);
    }
    let list = client.get("/v1/templates").await?;
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == name_or_id)
        .and_then(|t| t["id"].as_u64())
        .ok_or_else(|| ClientError::Problem {
            status: 404,
            title: "Not Found".to_string(),
            detail: format!("no template named {name_or_id:?}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_and_urls() {
        let e = answer(
            "u",
            404,
            r#"{"title":"Not Found","detail":"no rollout with id 9","status":404}"#,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "404 Not Found: no rollout with id 9");
        assert!(!e.is_retryable());
        assert!(answer("u", 200, "nope").is_err());
        assert_eq!(answer("u", 200, r#"{"a":1}"#).unwrap()["a"], 1);
        assert!(answer("u", 503, "").unwrap_err().is_retryable());
        assert_eq!(
            url_for_listen("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            url_for_listen("[::]:80".parse().unwrap()),
            "http://[::1]:80"
        );
        assert!(ApiClient::new("ftp://x", "k").is_err());
        assert!(ApiClient::new("http://127.0.0.1:1", " ").is_err());
    }
}
