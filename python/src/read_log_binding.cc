// mq.read_log (docs/python.md, "Inspecting a queue"): the messages of a log,
// as `mqtool dump --all` lists them, read without the writer lock.
#include "bindings.h"
#include "errors.h"
#include "mq/inspect.h"

namespace mqpy {

void BindReadLog(py::module_& m) {
  // The pure-Python read_log iterates over this list.
  m.def("_scan_log", [](const py::object& path) {
          std::string p = PathArg(path, "path");
          struct Rec {
            uint64_t seq;
            bool consumed;
            std::string payload;
          };
          std::vector<Rec> recs;
          mq::LogSummary summary;
          mq::Status s;
          {
            py::gil_scoped_release nogil;
            s = mq::ScanLog(p, mq::InspectOptions{}, [&recs](const mq::LogRecord& r) {
              recs.push_back({r.seq, r.consumed, std::string(r.payload)});
              return true;
            }).MoveTo(&summary);
          }
          if (!s.ok()) Raise(s);
          py::list out;
          for (Rec& r : recs)
            out.append(py::make_tuple(r.seq, r.consumed ? "consumed" : "pending", py::bytes(r.payload)));
          return out;
        }, py::arg("path"));
}

}  // namespace mqpy
