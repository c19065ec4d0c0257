// The in-car screen's files (ui/: index.html, app.js, style.css, i18n.js; docs/ui.md), served by
// the control API at /ui/ without a token: they hold no data, and the page signs in itself.
//
// Invariant: only regular files directly inside the UI directory are ever read; a path with
// anything but one plain file name after /ui/ is a 404.
#pragma once

#include <string>

#include "daemon/api_server.h"

namespace patrolrec::daemon {

// Where the UI's files are: PATROLREC_UI_DIR if set, else SHARE/patrolrec/ui beside the
// executable's bin/ (the build tree's build/share/patrolrec/ui, or the installed
// PREFIX/share/patrolrec/ui); "" when there is none.
std::string FindUiDirectory();

// GET /, /ui or /ui/NAME: a redirect to /ui/, or the file with its media type, or a 404 naming
// what was asked for.
ApiResponse UiFile(const std::string& directory, const std::string& path);

}  // namespace patrolrec::daemon
