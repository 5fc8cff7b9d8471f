//! The Japanese table: every [`Message`] in Japanese. Keep it in step with `en.rs` (the
//! compiler checks that both cover every message; a test, that neither is left empty).

use super::{Label, Message};

pub(super) fn text(message: Message<'_>) -> String {
    match message {
        Message::BannerBackend { version, emulator } => {
            let mode = if emulator {
                "エミュレーター (オフライン・内蔵: Twilio アカウント不要)"
            } else {
                "twilio (本物の Twilio Video)"
            };
            format!("videoroom {version} — バックエンド: {mode}")
        }
        Message::BannerLabel(label) => match label {
            Label::WorkshopPage => "ワークショップのページ",
            Label::AccessToken => "アクセストークン",
            Label::Room => "ルーム",
            Label::EmulatorRest => "エミュレーターの REST",
            Label::ClientLibraries => "クライアントライブラリ",
            Label::Inspector => "インスペクター",
            Label::MediaServer => "メディアサーバー",
            Label::TwilioRest => "Twilio の REST",
            Label::Health => "ヘルスチェック",
            Label::DecodeToken => "トークンを読む",
        }
        .to_owned(),
        Message::BannerSeededCredentials => {
            "シード済みのテスト用資格情報 (公開の値、エミュレーター専用):".to_owned()
        }
        Message::BannerCredentials => {
            "資格情報 (設定された秘密の値は表示しません。シード済みのテスト用の値は表示します):"
                .to_owned()
        }
        Message::BannerBoundToAll { host } => {
            format!("{host} で待ち受けています: ネットワーク上の他のコンピューターからも接続できます。")
        }
        Message::BannerLanNoCamera => {
            "警告: ほかの端末のブラウザーは、この http:// のアドレスではカメラを使わせません (https か localhost が必要です)。--lan で起動すると HTTPS になります。".to_owned()
        }
        Message::BannerCertFiles { cert } => format!("HTTPS 証明書: {}", cert.display()),
        Message::BannerCertSelfSigned { dir, reused: true } => format!(
            "HTTPS 証明書: 自己署名。{} にある前回のものを使います (名前とアドレスが同じため)",
            dir.display()
        ),
        Message::BannerCertSelfSigned { dir, reused: false } => format!(
            "HTTPS 証明書: 自己署名。いま作り、{} に保存しました",
            dir.display()
        ),
        Message::BannerAttendeeUrls => "参加者の URL (同じ Wi-Fi から):".to_owned(),
        Message::BannerRedirect { port } => {
            format!("ポート {port} の http:// は、これらの https:// の URL に転送します")
        }
        Message::BannerSelfSignedCheck => {
            "ブラウザーは自己署名証明書の警告を出します。証明書の SHA-256 がこの値と同じなら先へ進んでください。".to_owned()
        }
        Message::BannerQr { url } => format!("{url} の QR コード (スマートフォン用):"),
        Message::BannerQrTooLong => "(URL が長すぎて QR コードにできません)".to_owned(),
        Message::StartupRefused => {
            "設定に問題があるため起動しません。下の英語の説明にある値を直してください。".to_owned()
        }
        Message::StartupFailed => {
            "サーバーを起動できませんでした。理由と直し方は下の英語の説明にあります。".to_owned()
        }
        Message::SdkFetching { version, cache } => format!(
            "twilio-video.js {version} を npm で取得しています (保存先: {})…",
            cache.display()
        ),
        Message::SdkStillWaiting { waited, limit } => {
            format!("  npm を待っています ({waited} 秒 / 最大 {limit} 秒、sdk.fetch_timeout)")
        }
        Message::SdkDownloaded { bytes } => {
            format!("  ダウンロードしました: {} KB。整合性を確認しています…", bytes.div_ceil(1024))
        }
        Message::SdkReady {
            version,
            source,
            checked,
        } => {
            let how = if checked {
                "整合性確認済み"
            } else {
                "指定されたファイルをそのまま使います"
            };
            format!("twilio-video.js {version} は準備完了です ({how}): {source}")
        }
        Message::SdkUnavailable { version } => format!(
            "twilio-video.js {version} がありません。理由と直し方は下の英語の説明にあります。"
        ),
        Message::CheckEmulator { seeded } => format!(
            "バックエンド: エミュレーター。確認することはありません: 内蔵のエミュレーターは設定された資格情報 ({}) を受け付けます。本物の Twilio の資格情報は `videoroom check --backend twilio` で確認できます。",
            if seeded { "公開のテスト用の値" } else { "あなたの値" }
        ),
        Message::CheckOk => "Twilio の資格情報は有効です。".to_owned(),
        Message::CheckFailed => {
            "Twilio の資格情報を確認できませんでした。理由は下の英語の説明にあります。".to_owned()
        }
        Message::DecodeValid => "署名は正しく、このトークンは今有効です。".to_owned(),
        Message::DecodeRefused => {
            "このトークンは今は使えません (署名が確認できないか、期限外です)。詳しくは下をご覧ください。".to_owned()
        }
        Message::DecodeError => "トークンを読めませんでした。".to_owned(),
        Message::WorkshopInitDone { dir } => format!(
            "ワークショップのページを {} に書き出しました。`videoroom --workshop-dir {}` で起動すると、編集して再読み込みするだけで反映されます。",
            dir.display(),
            dir.display()
        ),
        Message::WorkshopInitFailed => {
            "何も書き出していません (既にあるファイルは上書きしません)。".to_owned()
        }
    }
}
