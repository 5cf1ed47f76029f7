// Everything mqtool's subcommands share, one header per concern:
//   escape.h         the escape grammar of text output, --key, --match, send --escaped
//   base64.h         base64 for payloads in JSON
//   json.h           JSON strings and the one-line JSON objects of jsonl output
//   numbers.h        strict parsing of numeric options; counted nouns
//   command_line.h   Boost.Program_options parsing, --help, required arguments, --match
//   status_error.h   a failed mq::Status as a ToolError
//   queue_open.h     preflight, the writer lock (--wait), opening for writing
//   damage.h         damaged regions in words
//   selection.h      which messages dump and replay handle, and the scan that finds them
//   record_format.h  the text, jsonl and raw forms of a message
//   standard_fds.h   fds 0-2 made valid at start-up, remembering which were closed
//   output.h         stdout that stops quietly on a closed pipe
//   progress.h       progress on stderr when it is a terminal
//
// Everything here either returns a value or throws UsageError/ToolError
// (command.h): the tool is the one place exceptions are allowed.
#pragma once

#include "base64.h"
#include "command.h"
#include "command_line.h"
#include "damage.h"
#include "escape.h"
#include "json.h"
#include "numbers.h"
#include "output.h"
#include "progress.h"
#include "queue_open.h"
#include "record_format.h"
#include "selection.h"
#include "standard_fds.h"
#include "status_error.h"
