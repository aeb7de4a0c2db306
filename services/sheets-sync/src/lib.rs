//! The sheets-sync service (Google Sheets and local files into versioned snapshots): not built yet — see issue 3.
