/**
 * sheetmesh change notifier for Google Sheets (Apps Script).
 *
 * Tells sheetmesh that this spreadsheet changed, so it syncs within seconds
 * instead of waiting for the polling interval. Each edit or structural
 * change POSTs {spreadsheetId, sheet, range, changeType, ts} to the webhook
 * with X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed by
 * the shared secret (SHEETS_WEBHOOK_SECRET)>.
 *
 * Install (once per spreadsheet):
 *   1. Extensions → Apps Script, paste this file.
 *   2. Project Settings → Script properties: add
 *        SHEETMESH_WEBHOOK_URL = https://<your host>/v1/webhooks/sheets
 *        SHEETMESH_WEBHOOK_SECRET = <the same value as SHEETS_WEBHOOK_SECRET>
 *   3. Run installTriggers() once and grant access.
 *
 * Installable triggers are required: simple onEdit triggers may not call
 * UrlFetchApp. Changes made through the API do not fire triggers (polling
 * still catches those).
 */

/** Creates the onEdit and onChange triggers (idempotent). */
function installTriggers() {
  var ss = SpreadsheetApp.getActive();
  ScriptApp.getProjectTriggers().forEach(function (t) {
    if (t.getHandlerFunction() === 'sheetmeshOnEdit' || t.getHandlerFunction() === 'sheetmeshOnChange') {
      ScriptApp.deleteTrigger(t);
    }
  });
  ScriptApp.newTrigger('sheetmeshOnEdit').forSpreadsheet(ss).onEdit().create();
  ScriptApp.newTrigger('sheetmeshOnChange').forSpreadsheet(ss).onChange().create();
}

/** Edit event: has a range. */
function sheetmeshOnEdit(e) {
  var range = e && e.range;
  sheetmeshNotify_({
    sheet: range ? range.getSheet().getName() : '',
    range: range ? range.getA1Notation() : '',
    changeType: 'EDIT',
  });
}

/** Change event: structural changes (INSERT_ROW, REMOVE_GRID, …), no range. */
function sheetmeshOnChange(e) {
  var type = (e && e.changeType) || 'OTHER';
  // Plain edits already arrive through sheetmeshOnEdit, with their range.
  if (type === 'EDIT') return;
  sheetmeshNotify_({ sheet: SpreadsheetApp.getActiveSheet().getName(), range: '', changeType: type });
}

function sheetmeshNotify_(change) {
  var props = PropertiesService.getScriptProperties();
  var url = props.getProperty('SHEETMESH_WEBHOOK_URL');
  var secret = props.getProperty('SHEETMESH_WEBHOOK_SECRET');
  if (!url || !secret) {
    console.warn('sheetmesh: set SHEETMESH_WEBHOOK_URL and SHEETMESH_WEBHOOK_SECRET in the script properties');
    return;
  }
  var body = JSON.stringify({
    spreadsheetId: SpreadsheetApp.getActive().getId(),
    sheet: change.sheet,
    range: change.range,
    changeType: change.changeType,
    ts: Date.now(), // milliseconds; the gateway refuses notifications older than 5 minutes
  });
  // Sign exactly the bytes sent: the payload string below is the body.
  var signed = Utilities.computeHmacSha256Signature(body, secret, Utilities.Charset.UTF_8);
  var hex = signed
    .map(function (b) {
      var v = (b & 0xff).toString(16);
      return v.length === 1 ? '0' + v : v;
    })
    .join('');
  var response = UrlFetchApp.fetch(url, {
    method: 'post',
    contentType: 'application/json',
    payload: body,
    headers: { 'X-Signature-256': 'sha256=' + hex },
    muteHttpExceptions: true,
  });
  var code = response.getResponseCode();
  if (code !== 202 && code !== 200) {
    console.warn('sheetmesh: webhook answered ' + code + ': ' + response.getContentText().slice(0, 200));
  }
}
