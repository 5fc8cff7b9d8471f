//! Account-level configuration: `RecordingSettings/Default`, `CompositionSettings/Default` and
//! `CompositionHooks`. The store validates and keeps them; they configure media work the
//! emulator does not do, so no hook ever fires and nothing is uploaded (docs/emulator.md).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use videoroom_emulator_adapter::{HookQuery, HookRequest, MediaSettings, SettingsKind};

use super::{ctx, echoed, json, resource, Result};
use crate::paging::{envelope, Paging};
use crate::params::{path_segment, read_form, Params};
use crate::resources::{CompositionHookJson, MediaSettingsJson};
use crate::Emulator;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/RecordingSettings/Default")
            .get(fetch_settings::<true>)
            .post(update_settings::<true>),
    )
    .service(
        resource("/CompositionSettings/Default")
            .get(fetch_settings::<false>)
            .post(update_settings::<false>),
    )
    .service(
        resource("/CompositionHooks")
            .get(list_hooks)
            .post(create_hook),
    )
    .service(
        resource("/CompositionHooks/{sid}")
            .get(fetch_hook)
            .post(update_hook)
            .delete(delete_hook),
    );
}

/// `RECORDING`: true for RecordingSettings, false for CompositionSettings.
fn settings_kind<const RECORDING: bool>() -> (SettingsKind, &'static str) {
    if RECORDING {
        (SettingsKind::Recording, "RecordingSettings")
    } else {
        (SettingsKind::Composition, "CompositionSettings")
    }
}

async fn fetch_settings<const RECORDING: bool>(
    req: HttpRequest,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let (kind, segment) = settings_kind::<RECORDING>();
    let settings = emulator.store().media_settings(kind);
    Ok(json(
        StatusCode::OK,
        &MediaSettingsJson::new(&settings, &ctx.base, &ctx.account_sid, segment),
    ))
}

async fn update_settings<const RECORDING: bool>(
    req: HttpRequest,
    body: web::Payload,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let p = read_form(&req, body, emulator.settings().body_limits()).await?;
    let (kind, segment) = settings_kind::<RECORDING>();
    let settings = MediaSettings {
        friendly_name: p.get("FriendlyName").map(str::to_owned),
        aws_credentials_sid: p.get("AwsCredentialsSid").map(str::to_owned),
        aws_s3_url: p.get("AwsS3Url").map(str::to_owned),
        aws_storage_enabled: p.bool("AwsStorageEnabled")?,
        encryption_key_sid: p.get("EncryptionKeySid").map(str::to_owned),
        encryption_enabled: p.bool("EncryptionEnabled")?,
    };
    let settings = emulator.store().set_media_settings(kind, settings)?;
    Ok(json(
        StatusCode::OK,
        &MediaSettingsJson::new(&settings, &ctx.base, &ctx.account_sid, segment),
    ))
}

fn hook_request(p: &Params) -> Result<HookRequest> {
    let list = |name: &str| {
        p.has(name)
            .then(|| p.all(name).into_iter().filter(|s| !s.is_empty()).collect())
    };
    Ok(HookRequest {
        friendly_name: p.get("FriendlyName").map(str::to_owned),
        enabled: p.bool("Enabled")?,
        video_layout: p.get("VideoLayout").map(str::to_owned),
        audio_sources: list("AudioSources"),
        audio_sources_excluded: list("AudioSourcesExcluded"),
        resolution: p.get("Resolution").map(str::to_owned),
        format: p.get("Format").map(str::to_owned),
        status_callback: p.get("StatusCallback").map(str::to_owned),
        status_callback_method: p.get("StatusCallbackMethod").map(str::to_owned),
        trim: p.bool("Trim")?,
    })
}

async fn create_hook(
    req: HttpRequest,
    body: web::Payload,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let p = read_form(&req, body, emulator.settings().body_limits()).await?;
    let hook = emulator
        .store()
        .create_composition_hook(&hook_request(&p)?)?;
    Ok(json(
        StatusCode::CREATED,
        &CompositionHookJson::new(&hook, &ctx.base, &ctx.account_sid),
    ))
}

async fn fetch_hook(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let sid = path_segment(&req, "sid")?;
    let hook = emulator.store().fetch_composition_hook(&sid)?;
    Ok(json(
        StatusCode::OK,
        &CompositionHookJson::new(&hook, &ctx.base, &ctx.account_sid),
    ))
}

async fn update_hook(
    req: HttpRequest,
    body: web::Payload,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let sid = path_segment(&req, "sid")?;
    let p = read_form(&req, body, emulator.settings().body_limits()).await?;
    let store = emulator.store();
    // An unknown hook is a 404 whatever the form says.
    store.fetch_composition_hook(&sid)?;
    let hook = store.update_composition_hook(&sid, &hook_request(&p)?)?;
    Ok(json(
        StatusCode::OK,
        &CompositionHookJson::new(&hook, &ctx.base, &ctx.account_sid),
    ))
}

async fn delete_hook(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse> {
    ctx(&req, &emulator)?;
    let sid = path_segment(&req, "sid")?;
    emulator.store().delete_composition_hook(&sid)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_hooks(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let p = Params::from_query(req.query_string());
    let paging = Paging::from_params(&p)?;
    let query = HookQuery {
        enabled: p.bool("Enabled")?,
        created_after: p.date("DateCreatedAfter")?,
        created_before: p.date("DateCreatedBefore")?,
        friendly_name: p.get("FriendlyName").map(str::to_owned),
        page_size: paging.page_size,
        page_token: paging.page_token.clone(),
    };
    let page = emulator.store().list_composition_hooks(&query)?;
    let filters = echoed(
        &p,
        &[
            "Enabled",
            "DateCreatedAfter",
            "DateCreatedBefore",
            "FriendlyName",
        ],
    );
    let body = envelope(
        "composition_hooks",
        &format!("{}/v1/CompositionHooks", ctx.base),
        &filters,
        &paging,
        &page,
        |h| CompositionHookJson::new(h, &ctx.base, &ctx.account_sid),
    );
    Ok(json(StatusCode::OK, &body))
}
