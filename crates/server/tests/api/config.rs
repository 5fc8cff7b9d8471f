//! Configuration layering (defaults < videoroom.toml < .env < environment < flags), start-up
//! errors that name the key, and secrets that never show.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::ExposeSecret;
use videoroom_server::settings::{
    BackendKind, ConfigFile, Origin, Overrides, Settings, SettingsError, Sources,
};

/// A scratch directory (tempfile's), removed when dropped. `.0` is its path.
pub struct TempDir(
    pub PathBuf,
    // Held only for its `Drop`, which removes the directory.
    #[allow(dead_code)] tempfile::TempDir,
);

impl TempDir {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("videoroom-test-")
            .tempdir()
            .expect("a temp dir");
        Self(dir.path().to_path_buf(), dir)
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).expect("write a temp file");
        path
    }
}

struct Layers {
    dir: TempDir,
    toml: Option<&'static str>,
    dotenv: Option<&'static str>,
    env: Vec<(&'static str, &'static str)>,
    overrides: Overrides,
}

impl Layers {
    fn new() -> Self {
        Self {
            dir: TempDir::new(),
            toml: None,
            dotenv: None,
            env: Vec::new(),
            overrides: Overrides::default(),
        }
    }

    fn sources(&self) -> Sources {
        let config_path = match self.toml {
            Some(text) => self.dir.write("videoroom.toml", text),
            None => self.dir.0.join("videoroom.toml"),
        };
        let dotenv_path = match self.dotenv {
            Some(text) => self.dir.write(".env", text),
            None => self.dir.0.join(".env"),
        };
        Sources {
            config_file: Some(ConfigFile {
                path: config_path,
                required: false,
            }),
            dotenv_file: Some(dotenv_path),
            env: self
                .env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            overrides: self.overrides.clone(),
        }
    }

    fn load(&self) -> Result<Settings, SettingsError> {
        self.sources().load()
    }

    fn settings(&self) -> Settings {
        self.load().expect("valid settings")
    }

    fn problems(&self) -> String {
        match self.load() {
            Ok(s) => panic!("expected a configuration error, got {s:?}"),
            Err(e) => e.to_string(),
        }
    }
}

#[test]
fn without_any_source_the_defaults_apply() {
    let s = Layers::new().settings();
    assert_eq!(s.backend, BackendKind::Emulator);
    assert_eq!(s.host.to_string(), "127.0.0.1");
    assert_eq!(s.port, 3000);
    assert_eq!(s.room.name.as_str(), "myroom");
    assert_eq!(s.room.room_type.as_str(), "group");
    assert!(s.room.allow_param);
    assert_eq!(s.token.ttl_secs, 3600);
    assert_eq!(s.token.region, None);
    assert_eq!(s.twilio.base_url, "https://video.twilio.com");
    assert!(s.credentials.seeded);
    assert_eq!(
        s.credentials.api_key_sid.as_str(),
        videoroom_core::credentials::TEST_API_KEY_SID
    );
    assert_eq!(
        s.origins.get("room.name"),
        None,
        "a default has no recorded origin"
    );
}

#[test]
fn each_layer_overrides_the_ones_below_it() {
    let mut layers = Layers::new();
    layers.toml = Some("port = 4000\n[room]\nname = \"fromtoml\"\ntype = \"go\"\n");
    assert_eq!(layers.settings().room.name.as_str(), "fromtoml");
    assert_eq!(layers.settings().port, 4000);

    layers.dotenv = Some("VIDEOROOM_ROOM=fromdotenv\n");
    let s = layers.settings();
    assert_eq!(s.room.name.as_str(), "fromdotenv");
    assert_eq!(
        s.room.room_type.as_str(),
        "go",
        "keys a higher layer lacks stay from the lower"
    );

    layers.env.push(("VIDEOROOM_ROOM", "fromenv"));
    assert_eq!(layers.settings().room.name.as_str(), "fromenv");

    layers.overrides.room = Some("fromflag".into());
    let s = layers.settings();
    assert_eq!(s.room.name.as_str(), "fromflag");
    assert_eq!(s.origins.get("room.name"), Some(&Origin::Flag("--room")));
    assert!(matches!(s.origins.get("room.type"), Some(Origin::File(_))));
    assert_eq!(s.port, 4000);
}

#[test]
fn the_origin_of_each_value_is_recorded_and_described() {
    let mut layers = Layers::new();
    layers.toml = Some("[token]\nttl = 600\n");
    layers.dotenv =
        Some("API_KEY=SKaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nAPI_SECRET=s3cr3t-from-dotenv\n");
    layers.env.push(("PORT", "3100"));
    layers.overrides.backend = Some("emulator".into());
    let s = layers.settings();
    assert_eq!(s.origins.get("port"), Some(&Origin::Env("PORT")));
    assert_eq!(
        s.origins.get("credentials.api_key"),
        Some(&Origin::DotEnv("API_KEY"))
    );
    let described = s.describe();
    assert!(described.contains("(flag --backend)"), "{described}");
    assert!(described.contains("(env PORT)"), "{described}");
    assert!(described.contains("(.env API_KEY)"), "{described}");
    assert!(described.contains("videoroom.toml"), "{described}");
    assert!(!described.contains("s3cr3t-from-dotenv"), "{described}");
}

#[test]
fn the_dotenv_file_does_not_change_the_process_environment() {
    let mut layers = Layers::new();
    layers.dotenv = Some("VIDEOROOM_TEST_ONLY_MARKER=1\nVIDEOROOM_ROOM=fromdotenv\n");
    assert_eq!(layers.settings().room.name.as_str(), "fromdotenv");
    assert!(std::env::var_os("VIDEOROOM_TEST_ONLY_MARKER").is_none());
}

#[test]
fn the_workshop_credential_names_win_over_the_twilio_names() {
    let mut layers = Layers::new();
    layers.env = vec![
        ("API_KEY", "SK11111111111111111111111111111111"),
        ("TWILIO_API_KEY_SID", "SK22222222222222222222222222222222"),
        ("TWILIO_API_KEY_SECRET", "a-secret"),
        ("TWILIO_ACCOUNT_SID", "AC33333333333333333333333333333333"),
    ];
    let s = layers.settings();
    assert_eq!(
        s.credentials.api_key_sid.as_str(),
        "SK11111111111111111111111111111111"
    );
    assert_eq!(
        s.credentials.account_sid.as_str(),
        "AC33333333333333333333333333333333"
    );
    assert!(!s.credentials.seeded);
}

#[test]
fn an_empty_value_counts_as_unset() {
    let mut layers = Layers::new();
    layers.dotenv = Some("API_KEY=\nVIDEOROOM_ROOM=\n");
    let s = layers.settings();
    assert_eq!(s.room.name.as_str(), "myroom");
    assert!(s.credentials.seeded);
}

#[test]
fn a_misspelt_backend_stops_start_up_naming_the_variable_and_the_choices() {
    let mut layers = Layers::new();
    layers.env.push(("VIDEOROOM_BACKEND", "twilo"));
    let problems = layers.problems();
    assert!(
        problems.contains("VIDEOROOM_BACKEND: unknown variant `twilo`"),
        "{problems}"
    );
    assert!(
        problems.contains("`emulator`") && problems.contains("`twilio`"),
        "{problems}"
    );
}

#[test]
fn an_account_sid_given_as_the_api_key_is_refused_with_the_fix() {
    let mut layers = Layers::new();
    layers.dotenv = Some("API_KEY=AC7e570000000000000000000000000000\n");
    let problems = layers.problems();
    assert!(
        problems.contains("API_KEY (in .env): API key SID must start with SK (got 'AC7e57…')"),
        "{problems}"
    );
    assert!(problems.contains("create an API key"), "{problems}");
}

#[test]
fn every_invalid_value_is_reported_at_once_with_its_name() {
    let mut layers = Layers::new();
    layers.toml = Some("[room]\ntype = \"huge\"\n");
    layers.env = vec![
        ("PORT", "70000"),
        ("VIDEOROOM_TOKEN_TTL", "86401"),
        ("TWILIO_ACCOUNT_SID", "AC123"),
        ("VIDEOROOM_HOST", "my-laptop"),
    ];
    layers.overrides.room = Some("a/b".into());
    layers.overrides.allow_room_param = Some("perhaps".into());
    let problems = layers.problems();
    for expected in [
        "PORT: must be a port number from 0 to 65535 (got '70000')",
        "VIDEOROOM_TOKEN_TTL: must be between 1 and 86400 seconds (got 86401)",
        "TWILIO_ACCOUNT_SID: Account SID must be AC followed by 32 hexadecimal digits",
        "VIDEOROOM_HOST: must be an IP address",
        "--room: room name must not contain the URL-reserved character '/'",
        "--allow-room-param: must be true or false (got 'perhaps')",
        "room.type (in ",
        "room type must be one of group, go, peer-to-peer, group-small (got 'huge')",
    ] {
        assert!(
            problems.contains(expected),
            "missing {expected:?} in:\n{problems}"
        );
    }
}

#[test]
fn half_an_api_key_is_refused_naming_the_missing_half() {
    let mut layers = Layers::new();
    layers.dotenv = Some("TWILIO_API_KEY_SID=SK11111111111111111111111111111111\n");
    let problems = layers.problems();
    assert!(
        problems.contains(
            "TWILIO_API_KEY_SID (in .env) is set but API_SECRET (or TWILIO_API_KEY_SECRET) is not"
        ),
        "{problems}"
    );
    let mut layers = Layers::new();
    layers.env.push(("API_SECRET", "lonely-secret"));
    let problems = layers.problems();
    assert!(
        problems.contains("API_SECRET is set but API_KEY (or TWILIO_API_KEY_SID) is not"),
        "{problems}"
    );
    assert!(
        !problems.contains("lonely-secret"),
        "the secret is never echoed: {problems}"
    );
}

#[test]
fn a_ttl_of_exactly_24_hours_is_accepted() {
    let mut layers = Layers::new();
    layers.overrides.token_ttl = Some("86400".into());
    assert_eq!(layers.settings().token.ttl_secs, 86_400);
}

#[test]
fn the_twilio_backend_without_credentials_names_the_missing_variables() {
    let mut layers = Layers::new();
    layers.overrides.backend = Some("twilio".into());
    layers
        .env
        .push(("ACCOUNT_SID", "AC33333333333333333333333333333333"));
    let problems = layers.problems();
    assert!(
        problems.contains("API_KEY (or TWILIO_API_KEY_SID)"),
        "{problems}"
    );
    assert!(
        problems.contains("API_SECRET (or TWILIO_API_KEY_SECRET)"),
        "{problems}"
    );
    assert!(!problems.contains("ACCOUNT_SID (or"), "{problems}");
}

#[test]
fn the_twilio_backend_with_credentials_uses_them_and_no_seeded_auth_token() {
    let mut layers = Layers::new();
    layers.overrides.backend = Some("twilio".into());
    layers.env = vec![
        ("TWILIO_ACCOUNT_SID", "AC33333333333333333333333333333333"),
        ("TWILIO_API_KEY_SID", "SK44444444444444444444444444444444"),
        ("TWILIO_API_KEY_SECRET", "real-secret"),
        ("TWILIO_VIDEO_BASE_URL", "http://127.0.0.1:9/"),
    ];
    let s = layers.settings();
    assert_eq!(s.backend, BackendKind::Twilio);
    assert_eq!(s.credentials.api_key_secret.expose_secret(), "real-secret");
    assert!(s.credentials.auth_token.is_none());
    assert_eq!(
        s.twilio.base_url, "http://127.0.0.1:9",
        "the trailing slash is dropped"
    );
}

#[test]
fn an_unknown_key_in_the_toml_file_is_refused_by_name() {
    let mut layers = Layers::new();
    layers.toml = Some("[room]\nnmae = \"typo\"\n");
    let problems = layers.problems();
    assert!(problems.contains("unknown key(s) room.nmae"), "{problems}");
}

#[test]
fn a_toml_file_that_does_not_parse_is_refused_with_its_path() {
    let mut layers = Layers::new();
    layers.toml = Some("port = = 3\n");
    let problems = layers.problems();
    assert!(
        problems.contains("videoroom.toml is not valid TOML"),
        "{problems}"
    );
}

#[test]
fn an_explicit_config_file_that_does_not_exist_is_an_error() {
    let dir = TempDir::new();
    let sources = Sources {
        config_file: Some(ConfigFile {
            path: dir.0.join("missing.toml"),
            required: true,
        }),
        ..Sources::default()
    };
    let err = sources
        .load()
        .expect_err("a missing --config file is an error");
    assert!(
        err.to_string().contains("missing.toml does not exist"),
        "{err}"
    );
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let mut layers = Layers::new();
    layers.env = vec![
        ("API_KEY", "SK11111111111111111111111111111111"),
        ("API_SECRET", "very-secret-api-secret"),
        ("AUTH_TOKEN", "very-secret-auth-token"),
    ];
    let s = layers.settings();
    let debug = format!("{s:?}");
    assert!(!debug.contains("very-secret"), "{debug}");
    assert!(debug.contains("[REDACTED]"), "{debug}");
    let described = s.describe();
    assert!(!described.contains("very-secret"), "{described}");
}

#[test]
fn the_workshop_folder_defaults_to_the_projects_workshop_directory() {
    let s = Layers::new().settings();
    assert!(
        s.workshop_dir.ends_with("workshop"),
        "{}",
        s.workshop_dir.display()
    );
    let mut layers = Layers::new();
    layers.overrides.workshop_dir = Some(layers.dir.0.display().to_string());
    assert_eq!(layers.settings().workshop_dir, layers.dir.0);
}

#[test]
fn the_page_comes_from_a_set_folder_else_from_workshop_here_else_from_the_binary() {
    use videoroom_server::workshop::PageSource;
    // The tests run in crates/server, which has no workshop/ folder: the built-in page.
    assert!(!std::path::Path::new("workshop").exists());
    assert_eq!(
        Layers::new().settings().workshop_page(),
        PageSource::Embedded
    );

    // A folder the person named wins, even before it exists (the log says it has no page).
    let mut layers = Layers::new();
    let named = layers.dir.0.join("not-yet");
    layers.overrides.workshop_dir = Some(named.display().to_string());
    assert_eq!(layers.settings().workshop_page(), PageSource::Folder(named));
    // (`workshop/` in the working directory winning is tested on the binary, in cli.rs.)
}

#[test]
fn the_emulator_gets_this_servers_credentials_and_ad_hoc_setting() {
    let mut layers = Layers::new();
    layers.env = vec![
        ("ACCOUNT_SID", "AC33333333333333333333333333333333"),
        ("API_KEY", "SK44444444444444444444444444444444"),
        ("API_SECRET", "shared-secret"),
        ("AUTH_TOKEN", "shared-auth-token"),
        ("VIDEOROOM_AD_HOC_ROOMS", "false"),
    ];
    let emulator = videoroom_server::startup::emulator_settings(&layers.settings());
    assert_eq!(
        emulator.account_sid.as_str(),
        "AC33333333333333333333333333333333"
    );
    assert_eq!(emulator.auth_token.expose_secret(), "shared-auth-token");
    assert_eq!(emulator.api_keys.len(), 1);
    assert_eq!(
        emulator.api_keys[0].sid.as_str(),
        "SK44444444444444444444444444444444"
    );
    assert_eq!(emulator.api_keys[0].secret.expose_secret(), "shared-secret");
    assert!(!emulator.ad_hoc_rooms);
    assert!(videoroom_server::startup::emulator_settings(&Layers::new().settings()).ad_hoc_rooms);
}

#[test]
fn a_misspelt_value_of_every_enum_setting_gets_the_value_probably_meant() {
    let mut layers = Layers::new();
    layers.toml = Some("[room]\ntype = \"peer2peer\"\n");
    layers.dotenv = Some("VIDEOROOM_LOG_FORMAT=jsno\n");
    layers.env.push(("VIDEOROOM_BACKEND", "twilo"));
    let problems = layers.problems();
    for expected in [
        "VIDEOROOM_BACKEND: unknown variant `twilo`, expected `emulator` or `twilio`; did you mean 'twilio'?",
        "VIDEOROOM_LOG_FORMAT (in .env): unknown variant `jsno`, expected `pretty` or `json`; did you mean 'json'?",
        "(got 'peer2peer'); did you mean 'peer-to-peer'?",
    ] {
        assert!(problems.contains(expected), "missing {expected:?} in:\n{problems}");
    }
}

#[test]
fn a_value_given_for_a_table_points_at_the_key_inside_it() {
    let mut layers = Layers::new();
    layers.toml = Some("room = \"myroom\"\n");
    let problems = layers.problems();
    assert!(
        problems.contains("`room` is a table, not a value: write `[room]` on a line of its own and `name = ...` under it"),
        "{problems}"
    );
}

#[test]
fn an_unknown_key_close_to_a_known_one_gets_a_hint() {
    let mut layers = Layers::new();
    layers.toml = Some("[room]\nttl = 600\n");
    let problems = layers.problems();
    assert!(
        problems
            .contains("unknown key(s) room.ttl (did you mean `ttl` under `[token]` (token.ttl)?)"),
        "{problems}"
    );
    layers.toml = Some("[room]\nnmae = \"typo\"\n");
    let problems = layers.problems();
    assert!(
        problems.contains("(did you mean `name` under `[room]` (room.name)?)"),
        "{problems}"
    );
}

#[test]
fn a_placeholder_sid_is_refused_for_its_first_non_hex_character_not_its_length() {
    let mut layers = Layers::new();
    layers.dotenv = Some("ACCOUNT_SID=ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n");
    let problems = layers.problems();
    assert!(
        problems.contains("ACCOUNT_SID (in .env): Account SID must be AC followed by 32 hexadecimal digits (0-9, a-f), but character 3 is 'x'"),
        "{problems}"
    );
    assert!(!problems.contains("34 characters"), "{problems}");
}

#[test]
fn a_twilio_region_error_names_the_flag_that_set_it() {
    let mut layers = Layers::new();
    layers.overrides.backend = Some("twilio".into());
    layers.overrides.twilio_region = Some("x y".into());
    layers.env = vec![
        ("ACCOUNT_SID", "AC33333333333333333333333333333333"),
        ("API_KEY", "SK44444444444444444444444444444444"),
        ("API_SECRET", "real-secret"),
    ];
    let problems = layers.problems();
    assert!(
        problems.contains("--twilio-region must be lowercase letters"),
        "{problems}"
    );
    assert!(!problems.contains("TWILIO_REGION"), "{problems}");

    layers.overrides.twilio_region = None;
    layers.overrides.twilio_edge = Some("tokyo".into());
    layers.overrides.twilio_base_url = Some("http://127.0.0.1:9".into());
    let problems = layers.problems();
    assert!(
        problems.contains("TWILIO_REGION/--twilio-edge apply only to *.twilio.com hosts, but --twilio-base-url is"),
        "{problems}"
    );
}

#[test]
fn a_dotenv_saved_as_utf16_or_with_a_bom_is_refused_with_how_to_save_it() {
    let layers = Layers::new();
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            "VIDEOROOM_ROOM=x\n"
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    std::fs::write(layers.dir.0.join(".env"), utf16).unwrap();
    let problems = layers.problems();
    assert!(
        problems.contains(".env is saved as UTF-16; save it as UTF-8 without BOM"),
        "{problems}"
    );

    std::fs::write(layers.dir.0.join(".env"), b"\xEF\xBB\xBFVIDEOROOM_ROOM=x\n").unwrap();
    let problems = layers.problems();
    assert!(
        problems.contains(
            ".env starts with a byte-order mark (BOM); save it as UTF-8 without BOM (Notepad"
        ),
        "{problems}"
    );
}

#[test]
fn variables_in_dotenv_that_cannot_take_effect_there_are_warned_about() {
    let mut layers = Layers::new();
    layers.dotenv = Some(
        "RUST_LOG=debug\nVIDEOROOM_CONFIG=other.toml\nVIDEOROOM_SDK_PATH=/tmp/twilio-video.min.js\n",
    );
    let s = layers.settings();
    let warnings = s.warnings.join("\n");
    assert!(
        warnings.contains("RUST_LOG in .env is ignored"),
        "{warnings}"
    );
    assert!(
        warnings.contains("VIDEOROOM_CONFIG in .env is ignored"),
        "{warnings}"
    );
    // VIDEOROOM_SDK_PATH is a setting like any other, so .env sets it.
    assert_eq!(
        s.sdk.path.as_deref(),
        Some(std::path::Path::new("/tmp/twilio-video.min.js"))
    );
    assert!(!warnings.contains("VIDEOROOM_SDK_PATH"), "{warnings}");
}

#[test]
fn access_lists_read_as_toml_lists_or_comma_separated_text_and_bad_entries_name_their_key() {
    let dir = TempDir::new();
    let toml = dir.write(
        "videoroom.toml",
        "[server]\nallowed_hosts = [\"classroom.test\", \".lan.test\"]\n\n[emulator]\ncallback_hosts = \"hooks.lan.test, 192.168.1.10\"\n",
    );
    let settings = Sources {
        config_file: Some(ConfigFile {
            path: toml,
            required: true,
        }),
        env: BTreeMap::from([(
            "VIDEOROOM_ALLOWED_ORIGINS".to_owned(),
            "http://localhost:5173".to_owned(),
        )]),
        ..Sources::default()
    }
    .load()
    .expect("valid lists");
    assert_eq!(settings.allowed_hosts, ["classroom.test", ".lan.test"]);
    assert_eq!(settings.allowed_origins, ["http://localhost:5173"]);
    let hook = url::Url::parse("http://hooks.lan.test/cb").unwrap();
    assert!(settings.callback_hosts.allows(&hook));

    let err = Sources {
        env: BTreeMap::from([
            ("VIDEOROOM_ALLOWED_ORIGINS".to_owned(), "*".to_owned()),
            (
                "VIDEOROOM_CALLBACK_HOSTS".to_owned(),
                "https://x.test/".to_owned(),
            ),
        ]),
        ..Sources::default()
    }
    .load()
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("VIDEOROOM_ALLOWED_ORIGINS: '*' is not an origin"),
        "{err}"
    );
    assert!(
        err.contains("VIDEOROOM_CALLBACK_HOSTS: 'https://x.test/' is not a host"),
        "{err}"
    );
}

#[test]
fn the_media_settings_reach_the_emulator_and_refuse_what_cannot_work() {
    use videoroom_emulator::media::MediaMode;

    // Defaults: group rooms through the media server on a free port, advertised on loopback.
    let emulator = videoroom_server::startup::emulator_settings(&Layers::new().settings());
    assert_eq!(emulator.media.mode, MediaMode::Sfu);
    assert_eq!(emulator.media.udp_port, 0);
    assert_eq!(
        emulator.media.advertise,
        ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );

    // Bound to every interface (as --lan binds), every LAN IPv4 address of the machine is
    // advertised, so other devices' media reaches the media server, and loopback too, for a
    // browser on this machine; loopback alone on a machine without one (the choice itself is
    // unit-tested in startup.rs with given addresses).
    let mut layers = Layers::new();
    layers.env = vec![
        ("VIDEOROOM_HOST", "0.0.0.0"),
        ("VIDEOROOM_MEDIA_MODE", "mesh"),
        ("VIDEOROOM_MEDIA_UDP_PORT", "40000"),
    ];
    let emulator = videoroom_server::startup::emulator_settings(&layers.settings());
    assert_eq!(emulator.media.mode, MediaMode::Mesh);
    assert_eq!(emulator.media.udp_port, 40000);
    let mut expected: Vec<std::net::IpAddr> = videoroom_server::tls::machine_addresses()
        .into_iter()
        .filter(|ip| ip.is_ipv4() && !ip.is_loopback())
        .collect();
    expected.push("127.0.0.1".parse().unwrap());
    assert_eq!(emulator.media.advertise, expected);
    layers.toml = Some("[media]\nadvertise = \"192.0.2.10\"\n");
    let emulator = videoroom_server::startup::emulator_settings(&layers.settings());
    assert_eq!(
        emulator.media.advertise,
        ["192.0.2.10".parse::<std::net::IpAddr>().unwrap()]
    );
    // A list, in TOML or comma-separated, in the order given.
    layers.toml = Some("[media]\nadvertise = [\"192.0.2.10\", \"127.0.0.2\"]\n");
    let emulator = videoroom_server::startup::emulator_settings(&layers.settings());
    assert_eq!(
        emulator.media.advertise,
        [
            "192.0.2.10".parse::<std::net::IpAddr>().unwrap(),
            "127.0.0.2".parse().unwrap()
        ]
    );

    let mut layers = Layers::new();
    layers.env = vec![
        ("VIDEOROOM_MEDIA_ADVERTISE", "0.0.0.0"),
        ("VIDEOROOM_MEDIA_MODE", "msh"),
    ];
    let problems = layers.problems();
    for expected in [
        "VIDEOROOM_MEDIA_ADVERTISE: must be an address browsers can reach",
        "did you mean 'mesh'?",
    ] {
        assert!(
            problems.contains(expected),
            "missing {expected:?} in:\n{problems}"
        );
    }
    for (list, expected) in [
        ("127.0.0.1,,127.0.0.2", "an empty item"),
        ("127.0.0.1, 127.0.0.1", "lists 127.0.0.1 twice"),
        ("127.0.0.1,0.0.0.0", "must be an address browsers can reach"),
    ] {
        let mut layers = Layers::new();
        layers.env = vec![("VIDEOROOM_MEDIA_ADVERTISE", list)];
        let problems = layers.problems();
        assert!(
            problems.contains(expected),
            "{list}: missing {expected:?} in:\n{problems}"
        );
    }
}
