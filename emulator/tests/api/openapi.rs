//! The Rooms and Participants responses checked against Twilio's own OpenAPI description:
//! exactly the schema's property names, values of compatible types (enums included), and the
//! status code each operation documents.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value as Json;
use serde_norway::Value as Yaml;

use crate::helpers::{spawn, TestEmulator};

/// `../shared/reference/openapi/twilio_video_v1.yaml`, from the workspace root, unless
/// `TWILIO_OPENAPI_FILE` names the file (a checkout whose `../shared` is elsewhere, such as a
/// git worktree).
fn spec_path() -> PathBuf {
    match std::env::var_os("TWILIO_OPENAPI_FILE") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/reference/openapi/twilio_video_v1.yaml"),
    }
}

/// The parsed spec, or `None` (after saying so) when the file is absent outside CI.
fn load_spec() -> Option<Yaml> {
    let path = spec_path();
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_norway::from_str(&text).expect("the OpenAPI file parses as YAML")),
        Err(err) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(
                !ci,
                "OpenAPI file not found at {} ({err}); CI must have ../shared beside the project",
                path.display()
            );
            println!(
                "skipped: OpenAPI file not found at {} ({err})",
                path.display()
            );
            None
        }
    }
}

struct Spec {
    root: Yaml,
}

impl Spec {
    fn get<'a>(value: &'a Yaml, key: &str) -> &'a Yaml {
        value
            .get(key)
            .unwrap_or_else(|| panic!("the spec has no '{key}' here"))
    }

    /// Follows `$ref: '#/components/schemas/x'`.
    fn resolve<'a>(&'a self, schema: &'a Yaml) -> &'a Yaml {
        match schema.get("$ref").and_then(Yaml::as_str) {
            Some(reference) => {
                let name = reference
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
                Spec::get(
                    Spec::get(Spec::get(&self.root, "components"), "schemas"),
                    name,
                )
            }
            None => schema,
        }
    }

    /// The operation (`get`/`post`) of a path, checked to have the expected operationId.
    fn operation(&self, path: &str, method: &str, operation_id: &str) -> &Yaml {
        let op = Spec::get(Spec::get(Spec::get(&self.root, "paths"), path), method);
        assert_eq!(
            op.get("operationId").and_then(Yaml::as_str),
            Some(operation_id),
            "{method} {path}"
        );
        op
    }

    /// The one documented success status of an operation and its JSON schema.
    fn success<'a>(&self, op: &'a Yaml) -> (u16, &'a Yaml) {
        let responses = Spec::get(op, "responses")
            .as_mapping()
            .expect("responses is a mapping");
        let mut found = responses.iter().filter_map(|(code, response)| {
            let code = match code {
                Yaml::String(s) => s.parse::<u16>().ok()?,
                Yaml::Number(n) => u16::try_from(n.as_u64()?).ok()?,
                _ => return None,
            };
            let schema = response
                .get("content")?
                .get("application/json")?
                .get("schema")?;
            Some((code, schema))
        });
        let first = found.next().expect("a JSON success response");
        assert!(found.next().is_none(), "one success response expected");
        first
    }

    /// Checks `value` against `schema` (after `$ref`); `at` names the place for messages.
    fn check(&self, schema: &Yaml, value: &Json, at: &str) {
        let schema = self.resolve(schema);
        let nullable = schema
            .get("nullable")
            .and_then(Yaml::as_bool)
            .unwrap_or(false);
        if value.is_null() {
            assert!(nullable, "{at} is null but the schema does not allow it");
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Yaml::as_sequence) {
            let allowed: Vec<&str> = allowed.iter().filter_map(Yaml::as_str).collect();
            let got = value
                .as_str()
                .unwrap_or_else(|| panic!("{at}: enum value must be a string"));
            assert!(
                allowed.contains(&got),
                "{at} = {got:?} is not one of {allowed:?}"
            );
        }
        let kind = schema.get("type").and_then(Yaml::as_str);
        match kind {
            Some("string") => {
                let s = value
                    .as_str()
                    .unwrap_or_else(|| panic!("{at} must be a string: {value}"));
                match schema.get("format").and_then(Yaml::as_str) {
                    Some("date-time") => assert!(
                        time::OffsetDateTime::parse(
                            s,
                            &time::format_description::well_known::Rfc3339
                        )
                        .is_ok(),
                        "{at} = {s} is not a date-time"
                    ),
                    Some("uri") => assert!(url::Url::parse(s).is_ok(), "{at} = {s} is not a URI"),
                    _ => {}
                }
                if let Some(pattern) = schema.get("pattern").and_then(Yaml::as_str) {
                    check_sid_pattern(pattern, s, at);
                }
            }
            Some("integer") => assert!(
                value.is_i64() || value.is_u64(),
                "{at} must be an integer: {value}"
            ),
            Some("boolean") => assert!(value.is_boolean(), "{at} must be a boolean: {value}"),
            Some("array") => {
                let items = value
                    .as_array()
                    .unwrap_or_else(|| panic!("{at} must be an array"));
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{at}[{i}]"));
                    }
                }
            }
            Some("object") | None => {
                let object = value
                    .as_object()
                    .unwrap_or_else(|| panic!("{at} must be an object: {value}"));
                if let Some(properties) = schema.get("properties").and_then(Yaml::as_mapping) {
                    let expected: BTreeSet<&str> =
                        properties.keys().filter_map(Yaml::as_str).collect();
                    let actual: BTreeSet<&str> = object.keys().map(String::as_str).collect();
                    // A rule lists only the filters it uses: Twilio leaves unset ones out of
                    // recording rules (the schema's `NON_NULL`) and shows them as null in
                    // subscribe rules (its own examples), so a rule's properties are a subset
                    // of the schema's, each null or of the schema's type.
                    let format = schema.get("format").and_then(Yaml::as_str);
                    if matches!(format, Some("recording-rule" | "subscribe-rule")) {
                        assert!(
                            actual.is_subset(&expected),
                            "{at}: {actual:?} ⊄ {expected:?}"
                        );
                        for (name, property) in properties {
                            let name = name.as_str().unwrap_or_default();
                            match object.get(name) {
                                None | Some(Json::Null) => {}
                                Some(v) => self.check(property, v, &format!("{at}.{name}")),
                            }
                        }
                        return;
                    }
                    assert_eq!(
                        actual, expected,
                        "{at}: property names differ from the schema"
                    );
                    for (name, property) in properties {
                        let name = name.as_str().unwrap_or_default();
                        self.check(property, &object[name], &format!("{at}.{name}"));
                    }
                }
            }
            Some(other) => panic!("{at}: schema type {other} not handled by this test"),
        }
    }
}

/// The spec's SID patterns are all `^XX[0-9a-fA-F]{32}$`.
fn check_sid_pattern(pattern: &str, s: &str, at: &str) {
    let prefix = pattern
        .strip_prefix('^')
        .and_then(|p| p.strip_suffix("[0-9a-fA-F]{32}$"))
        .unwrap_or_else(|| panic!("{at}: unexpected pattern {pattern}"));
    assert!(
        s.len() == prefix.len() + 32
            && s.starts_with(prefix)
            && s[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{at} = {s} does not match {pattern}"
    );
}

async fn call(app: &TestEmulator, method: &str, path: &str, form: &[(&str, &str)]) -> (u16, Json) {
    let res = match method {
        "get" => app.get(path).await,
        _ => app.post(path, form).await,
    };
    let status = res.status().as_u16();
    (status, res.json().await.expect("a JSON body"))
}

#[actix_web::test]
async fn rooms_and_participants_match_twilios_openapi_description() {
    let Some(root) = load_spec() else {
        return;
    };
    let spec = Spec { root };
    let app = spawn().await;

    // Enough state that every field has a value, including a completed room and a
    // disconnected participant (end_time and duration set), and a page with a next page.
    let create_forms: [&[(&str, &str)]; 2] = [
        &[
            ("UniqueName", "spec"),
            ("StatusCallback", "http://127.0.0.1:9/cb"),
        ],
        &[("UniqueName", "spec-2"), ("Type", "go")],
    ];
    for form in create_forms {
        let op = spec.operation("/v1/Rooms", "post", "CreateRoom");
        let (status, schema) = spec.success(op);
        let (got, body) = call(&app, "post", "/v1/Rooms", form).await;
        assert_eq!(got, status, "CreateRoom");
        spec.check(schema, &body, "CreateRoom");
    }
    app.join("spec", "alice").await;
    app.join("spec", "bob").await;

    let op = spec.operation("/v1/Rooms", "get", "ListRoom");
    let (status, schema) = spec.success(op);
    let (got, body) = call(&app, "get", "/v1/Rooms?PageSize=1", &[]).await;
    assert_eq!(got, status, "ListRoom");
    assert!(
        body["meta"]["next_page_url"].is_string(),
        "a page with a next page: {body}"
    );
    spec.check(schema, &body, "ListRoom");

    let op = spec.operation("/v1/Rooms/{Sid}", "get", "FetchRoom");
    let (status, schema) = spec.success(op);
    let (got, body) = call(&app, "get", "/v1/Rooms/spec", &[]).await;
    assert_eq!(got, status, "FetchRoom");
    spec.check(schema, &body, "FetchRoom");
    let room_sid = body["sid"].as_str().unwrap().to_owned();

    let op = spec.operation(
        "/v1/Rooms/{RoomSid}/Participants",
        "get",
        "ListRoomParticipant",
    );
    let (status, schema) = spec.success(op);
    let (got, body) = call(&app, "get", "/v1/Rooms/spec/Participants?PageSize=1", &[]).await;
    assert_eq!(got, status, "ListRoomParticipant");
    spec.check(schema, &body, "ListRoomParticipant");

    let op = spec.operation(
        "/v1/Rooms/{RoomSid}/Participants/{Sid}",
        "get",
        "FetchRoomParticipant",
    );
    let (status, schema) = spec.success(op);
    let (got, body) = call(&app, "get", "/v1/Rooms/spec/Participants/alice", &[]).await;
    assert_eq!(got, status, "FetchRoomParticipant");
    spec.check(schema, &body, "FetchRoomParticipant");

    let op = spec.operation(
        "/v1/Rooms/{RoomSid}/Participants/{Sid}",
        "post",
        "UpdateRoomParticipant",
    );
    let (status, schema) = spec.success(op);
    let (got, body) = call(
        &app,
        "post",
        "/v1/Rooms/spec/Participants/alice",
        &[("Status", "disconnected")],
    )
    .await;
    assert_eq!(got, status, "UpdateRoomParticipant");
    assert!(
        body["end_time"].is_string() && body["duration"].is_u64(),
        "{body}"
    );
    spec.check(schema, &body, "UpdateRoomParticipant");

    let op = spec.operation("/v1/Rooms/{Sid}", "post", "UpdateRoom");
    let (status, schema) = spec.success(op);
    let (got, body) = call(
        &app,
        "post",
        &format!("/v1/Rooms/{room_sid}"),
        &[("Status", "completed")],
    )
    .await;
    assert_eq!(got, status, "UpdateRoom");
    assert!(
        body["end_time"].is_string() && body["duration"].is_u64(),
        "{body}"
    );
    spec.check(schema, &body, "UpdateRoom");

    // A completed room's listing (disconnected participants only) still matches.
    let op = spec.operation("/v1/Rooms", "get", "ListRoom");
    let (_, schema) = spec.success(op);
    let (_, body) = call(&app, "get", "/v1/Rooms?Status=completed", &[]).await;
    assert_eq!(body["rooms"].as_array().unwrap().len(), 1);
    spec.check(schema, &body, "ListRoom(completed)");
    let op = spec.operation(
        "/v1/Rooms/{RoomSid}/Participants",
        "get",
        "ListRoomParticipant",
    );
    let (_, schema) = spec.success(op);
    let (_, body) = call(
        &app,
        "get",
        &format!("/v1/Rooms/{room_sid}/Participants"),
        &[],
    )
    .await;
    assert_eq!(body["participants"].as_array().unwrap().len(), 2);
    spec.check(schema, &body, "ListRoomParticipant(completed)");
}

#[actix_web::test]
async fn published_and_subscribed_tracks_match_twilios_openapi_description() {
    let Some(root) = load_spec() else {
        return;
    };
    let spec = Spec { root };
    let app = spawn().await;
    let room = app.create_room(&[("UniqueName", "tracks")]).await;
    let room_sid = room["sid"].as_str().unwrap().to_owned();
    let alice = app.join("tracks", "alice").await;
    app.join("tracks", "bob").await;
    let track = app
        .emulator
        .store()
        .publish_track(
            &videoroom_core::RoomKey::parse(&room_sid).unwrap(),
            &videoroom_emulator_adapter::ParticipantKey::parse(alice["sid"].as_str().unwrap())
                .unwrap(),
            videoroom_emulator_adapter::PublishTrack {
                client_id: "cam".to_owned(),
                kind: videoroom_emulator_adapter::TrackKind::Video,
                name: "camera".to_owned(),
                enabled: true,
            },
        )
        .unwrap();
    let track_sid = track.sid.as_str();
    let participants = "/v1/Rooms/{RoomSid}/Participants/{ParticipantSid}";
    let cases = [
        (
            format!("{participants}/PublishedTracks"),
            "ListRoomParticipantPublishedTrack",
            "/v1/Rooms/tracks/Participants/alice/PublishedTracks".to_owned(),
        ),
        (
            format!("{participants}/PublishedTracks/{{Sid}}"),
            "FetchRoomParticipantPublishedTrack",
            format!("/v1/Rooms/tracks/Participants/alice/PublishedTracks/{track_sid}"),
        ),
        (
            format!("{participants}/SubscribedTracks"),
            "ListRoomParticipantSubscribedTrack",
            "/v1/Rooms/tracks/Participants/bob/SubscribedTracks".to_owned(),
        ),
        (
            format!("{participants}/SubscribedTracks/{{Sid}}"),
            "FetchRoomParticipantSubscribedTrack",
            format!("/v1/Rooms/tracks/Participants/bob/SubscribedTracks/{track_sid}"),
        ),
    ];
    for (spec_path, id, path) in &cases {
        let op = spec.operation(spec_path, "get", id);
        let (status, schema) = spec.success(op);
        let (got, body) = call(&app, "get", path, &[]).await;
        assert_eq!(got, status, "{id}");
        assert!(
            !body.to_string().contains("[]"),
            "{id} has a track to check: {body}"
        );
        spec.check(schema, &body, id);
    }
}

/// One call to check: spec path, method, operationId, request path, form.
type Case<'a> = (&'a str, &'a str, &'a str, String, Vec<(&'a str, &'a str)>);

#[actix_web::test]
async fn rules_anonymize_and_the_media_resources_match_twilios_openapi_description() {
    let Some(root) = load_spec() else {
        return;
    };
    let spec = Spec { root };
    let app = spawn().await;
    let room = app.create_room(&[("UniqueName", "more")]).await;
    let room_sid = room["sid"].as_str().unwrap().to_owned();
    let alice = app.join("more", "alice").await;
    let alice_sid = alice["sid"].as_str().unwrap().to_owned();
    let rules =
        r#"[{"type":"exclude","all":true},{"type":"include","publisher":"alice","kind":"audio"}]"#;
    let sub_rules = r#"[{"type":"include","track":"screen","priority":"high"}]"#;
    let participant = format!("/v1/Rooms/more/Participants/{alice_sid}");
    let room_path = format!("/v1/Rooms/{room_sid}");
    let cases: Vec<Case> = vec![
        (
            "/v1/Rooms/{RoomSid}/RecordingRules",
            "get",
            "FetchRoomRecordingRule",
            format!("{room_path}/RecordingRules"),
            vec![],
        ),
        (
            "/v1/Rooms/{RoomSid}/RecordingRules",
            "post",
            "UpdateRoomRecordingRule",
            format!("{room_path}/RecordingRules"),
            vec![("Rules", rules)],
        ),
        (
            "/v1/Rooms/{RoomSid}/Participants/{ParticipantSid}/SubscribeRules",
            "get",
            "FetchRoomParticipantSubscribeRule",
            format!("{participant}/SubscribeRules"),
            vec![],
        ),
        (
            "/v1/Rooms/{RoomSid}/Participants/{ParticipantSid}/SubscribeRules",
            "post",
            "UpdateRoomParticipantSubscribeRule",
            format!("{participant}/SubscribeRules"),
            vec![("Rules", sub_rules)],
        ),
        (
            "/v1/Recordings",
            "get",
            "ListRecording",
            "/v1/Recordings".to_owned(),
            vec![],
        ),
        (
            "/v1/Rooms/{RoomSid}/Recordings",
            "get",
            "ListRoomRecording",
            format!("{room_path}/Recordings"),
            vec![],
        ),
        (
            "/v1/Compositions",
            "get",
            "ListComposition",
            "/v1/Compositions".to_owned(),
            vec![],
        ),
    ];
    let hook: Json = app
        .post(
            "/v1/CompositionHooks",
            &[
                ("FriendlyName", "spec"),
                ("VideoLayout", r#"{"grid":{"video_sources":["*"]}}"#),
                ("StatusCallback", "http://127.0.0.1:9/hook"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let hook_path = format!("/v1/CompositionHooks/{}", hook["sid"].as_str().unwrap());
    let settings = [("FriendlyName", "archive"), ("AwsStorageEnabled", "false")];
    let cases = cases.into_iter().chain([
        (
            "/v1/CompositionHooks",
            "post",
            "CreateCompositionHook",
            "/v1/CompositionHooks".to_owned(),
            vec![("FriendlyName", "again"), ("AudioSources", "*")],
        ),
        (
            "/v1/CompositionHooks",
            "get",
            "ListCompositionHook",
            "/v1/CompositionHooks?PageSize=1".to_owned(),
            vec![],
        ),
        (
            "/v1/CompositionHooks/{Sid}",
            "get",
            "FetchCompositionHook",
            hook_path.clone(),
            vec![],
        ),
        (
            "/v1/CompositionHooks/{Sid}",
            "post",
            "UpdateCompositionHook",
            hook_path.clone(),
            vec![("FriendlyName", "renamed")],
        ),
        (
            "/v1/RecordingSettings/Default",
            "get",
            "FetchRecordingSettings",
            "/v1/RecordingSettings/Default".to_owned(),
            vec![],
        ),
        (
            "/v1/RecordingSettings/Default",
            "post",
            "CreateRecordingSettings",
            "/v1/RecordingSettings/Default".to_owned(),
            settings.to_vec(),
        ),
        (
            "/v1/CompositionSettings/Default",
            "post",
            "CreateCompositionSettings",
            "/v1/CompositionSettings/Default".to_owned(),
            settings.to_vec(),
        ),
        (
            "/v1/CompositionSettings/Default",
            "get",
            "FetchCompositionSettings",
            "/v1/CompositionSettings/Default".to_owned(),
            vec![],
        ),
    ]);
    for (spec_path, method, id, path, form) in cases {
        let op = spec.operation(spec_path, method, id);
        let (status, schema) = spec.success(op);
        let (got, body) = call(&app, method, &path, &form).await;
        assert_eq!(got, status, "{id}: {body}");
        spec.check(schema, &body, id);
    }
    // Anonymize, once alice has left.
    call(&app, "post", &participant, &[("Status", "disconnected")]).await;
    let spec_path = "/v1/Rooms/{RoomSid}/Participants/{Sid}/Anonymize";
    let op = spec.operation(spec_path, "post", "UpdateRoomParticipantAnonymize");
    let (status, schema) = spec.success(op);
    let (got, body) = call(&app, "post", &format!("{participant}/Anonymize"), &[]).await;
    assert_eq!(got, status, "Anonymize: {body}");
    spec.check(schema, &body, "UpdateRoomParticipantAnonymize");
}
