// UTF-8 validation shared by the configuration reader and the control API: both refuse text that
// is not UTF-8 before it reaches a log, a file name or the catalog.
#pragma once

#include <string_view>

namespace patrolrec::base {

// Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. (NUL is valid UTF-8;
// callers that refuse it say so themselves.)
bool IsValidUtf8(std::string_view s);

}  // namespace patrolrec::base
