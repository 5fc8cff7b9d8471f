// videoroom エミュレーター用の小さな追加スクリプト / videoroom's emulator shim.
//
// twilio-video.js の後に読み込まれ、Twilio.Video.connect にこのサーバーのシグナリング (wsServer) と
// insights: false を足します。ワークショップのコードは変更不要です。
// Loaded after twilio-video.js: it adds this server's signaling endpoint (wsServer) and
// insights: false to every Twilio.Video.connect call, so workshop code stays unchanged and no
// request leaves this machine. Options given by the caller win over these defaults.
(function () {
  'use strict';
  if (typeof Twilio === 'undefined' || !Twilio.Video) return;
  var connect = Twilio.Video.connect;
  var wsServer = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/signaling';
  Twilio.Video.connect = function (token, options) {
    return connect.call(this, token, Object.assign({ wsServer: wsServer, insights: false }, options));
  };
})();
