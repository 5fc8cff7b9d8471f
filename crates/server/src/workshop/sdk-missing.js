// videoroom: twilio-video.js をまだ配信できません。理由と対処を #status に表示します。
// videoroom: the SDK cannot be served yet; this shows why, and what to do, in #status.
(function (info) {
  'use strict';
  function show() {
    var status = document.getElementById('status');
    if (!status) return;
    status.dataset.state = 'error';
    status.dataset.code = 'sdk_' + info.state;
    status.textContent = info.ja + ' / ' + info.en;
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', show);
  else show();

  // 取得中なら、準備ができたときに自動で再読み込みします。 / While fetching, reload once it is ready.
  if (info.state !== 'fetching') return;
  var timer = setInterval(function () {
    fetch('/sdk/status')
      .then(function (response) { return response.json(); })
      .then(function (sdk) {
        if (sdk.state === 'ready') location.reload();
        else if (sdk.state === 'unavailable') {
          clearInterval(timer);
          info = { state: sdk.state, ja: sdk.message_ja, en: sdk.message };
          show();
        }
      })
      .catch(function () {});
  }, 2000);
})(/*INFO*/);
