// ビデオチャット ハンズオンのページ用スクリプト (手順 2〜5)
// The hands-on page script (steps 2-5).
//
// Twilio Video SDK の公開 API だけを使います。本物の Twilio でもエミュレーターでも同じように動きます。
// It uses the public twilio-video.js API only, so it runs unchanged against real Twilio and the emulator.
'use strict';

const form = document.getElementById('login-form');
const joinButton = form.querySelector('button[type="submit"]');
const leaveButton = document.getElementById('leave');
const statusEl = document.getElementById('status');
const participantsEl = document.getElementById('participants');
const elements = new Map(); // participant.sid → その人の要素 / that participant's element
let room = null;

// 状態を日本語と英語で表示します。 / Show the state in Japanese and English.
function showStatus(state, ja, en) {
  statusEl.dataset.state = state;
  delete statusEl.dataset.code;
  statusEl.replaceChildren(ja + ' ', span('en', en));
}

// エラーのコードと意味を表示します (意味は index.html の表から読みます)。
// Show an error's code and meaning (meanings come from the table in index.html).
function showError(error) {
  console.error(error);
  // カメラのエラー (DOMException) は名前で表示します。 / Camera errors (DOMException) show their name.
  const code = error instanceof DOMException || !error.code ? error.name || 'Error' : String(error.code);
  const row = document.querySelector(`#error-codes tr[data-code="${code}"]`);
  document.querySelectorAll('#error-codes tr.hit').forEach((tr) => tr.classList.remove('hit'));
  let meaning = error.message;
  if (row) {
    row.classList.add('hit');
    row.closest('details').open = true;
    meaning = row.cells[1].textContent;
  }
  statusEl.dataset.state = 'error';
  statusEl.dataset.code = code;
  statusEl.replaceChildren(`エラー ${code}: `, span('en', `Error ${code}: `), meaning);
}

function span(className, text) {
  const el = document.createElement('span');
  el.className = className;
  el.textContent = text;
  return el;
}

// 手順 2: サーバーからアクセストークンをもらう
// Step 2: get an access token from our server.
async function fetchToken(identity) {
  const body = { identity };
  // ?room=NAME で別のルームを選べます。 / ?room=NAME picks another room.
  const roomParam = new URLSearchParams(location.search).get('room');
  if (roomParam) body.room = roomParam;

  const response = await fetch('/video-token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const failure = answer.error || {};
    const error = new Error(failure.message || `HTTP ${response.status}`);
    error.code = failure.code || `HTTP ${response.status}`;
    throw error;
  }
  return answer; // { token, identity, room, roomSid }
}

// 手順 4: ルームに参加する (音声なし、映像あり)
// Step 4: join the room (video only, no audio).
async function join(identity) {
  showStatus('connecting', '接続中…', 'Connecting…');
  const { token, room: roomName } = await fetchToken(identity);
  room = await Twilio.Video.connect(token, { room: roomName, audio: false, video: true });
  showStatus('connected', `接続しました: ${room.name}`, `Connected to ${room.name}`);
  form.hidden = true;
  leaveButton.hidden = false;

  // 手順 5: 自分、すでにいる参加者、あとから来る参加者を表示する
  // Step 5: show yourself, the participants already here, and those who arrive later.
  participantConnected(room.localParticipant);
  room.participants.forEach(participantConnected);
  room.on('participantConnected', participantConnected);
  room.on('participantDisconnected', participantDisconnected);
  room.on('disconnected', roomDisconnected);
  // 回線が一時的に切れたとき / When the connection drops for a moment.
  room.on('reconnecting', () => showStatus('reconnecting', '再接続中…', 'Reconnecting…'));
  room.on('reconnected', () => showStatus('connected', `接続しました: ${room.name}`, `Connected to ${room.name}`));
}

// 参加者ごとに要素を 1 つ作り、トラックを表示する
// One element per participant, holding its tracks.
function participantConnected(participant) {
  const el = document.createElement('div');
  el.className = 'participant';
  el.dataset.identity = participant.identity;
  el.append(span('name', participant.identity));
  participantsEl.append(el);
  elements.set(participant.sid, el);

  participant.tracks.forEach((publication) => trackPublished(publication, el));
  participant.on('trackPublished', (publication) => trackPublished(publication, el));
}

// 購読できたトラックを track.attach() で <video> にして追加する
// Attach each subscribed track with track.attach(), which makes a <video> element.
function trackPublished(publication, el) {
  if (publication.track) el.append(publication.track.attach());
  publication.on('subscribed', (track) => el.append(track.attach()));
  publication.on('unsubscribed', (track) => track.detach().forEach((media) => media.remove()));
}

// 退出した参加者の要素を消す / Remove the element of a participant who left.
function participantDisconnected(participant) {
  // 同じ名前で入り直した人と区別するため、名前ではなく sid で探します。
  // Look up by sid, not by name, so someone who rejoined under the same name keeps their element.
  participant.removeAllListeners();
  elements.get(participant.sid)?.remove();
  elements.delete(participant.sid);
}

// ルームから切断された (自分で退出、ルーム終了、エラー) / Disconnected: we left, the room ended, or an error.
function roomDisconnected(disconnectedRoom, error) {
  disconnectedRoom.localParticipant.tracks.forEach((publication) => publication.track.stop());
  disconnectedRoom.participants.forEach((participant) => participant.removeAllListeners());
  participantsEl.replaceChildren();
  elements.clear();
  room = null;
  form.hidden = false;
  leaveButton.hidden = true;
  if (error) showError(error);
  else showStatus('disconnected', '切断しました', 'Disconnected');
}

// カメラは安全なページ (https:// か localhost) でしか使えません。http:// の LAN アドレスで
// 開かれたら、SDK の中で失敗する前に、どうすればよいかを表示します。
// Browsers give the camera only to secure pages (https://, or localhost). Opened on a plain
// http:// LAN address, say what to do now rather than fail later inside the SDK.
function showInsecureContext() {
  const row = document.querySelector('#error-codes tr[data-code="insecure-context"]');
  row.classList.add('hit');
  row.closest('details').open = true;
  statusEl.dataset.state = 'error';
  statusEl.dataset.code = 'insecure-context';
  statusEl.replaceChildren(
    'http:// のページではカメラを使えません。講師が示す https:// の URL を開くか、この PC では localhost で開いてください。 ',
    span('en', 'Browsers give the camera only to https:// pages (or localhost): open the https:// URL your instructor shows (the server runs with --lan), or use localhost on this computer.'),
  );
}

if (!window.isSecureContext) showInsecureContext();

form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!window.isSecureContext) {
    showInsecureContext();
    return;
  }
  if (typeof Twilio === 'undefined') {
    // SDK を読み込めなかった (理由がまだ表示されていなければ表示する)
    // The SDK did not load; say so unless #status already explains why.
    if (statusEl.dataset.state !== 'error') {
      const error = new Error('twilio-video.js を読み込めませんでした / twilio-video.js did not load (network?)');
      error.name = 'sdk_missing';
      showError(error);
    }
    return;
  }
  const identity = new FormData(form).get('identity').trim();
  // 接続中の二重クリックを防ぐ / Ignore a second click while connecting.
  joinButton.disabled = true;
  join(identity)
    .catch(showError)
    .finally(() => (joinButton.disabled = false));
});

leaveButton.addEventListener('click', () => room && room.disconnect());

// ページを閉じたら退出する / Leave the room when the page goes away.
window.addEventListener('pagehide', () => room && room.disconnect());
window.addEventListener('beforeunload', () => room && room.disconnect());
