// mq.Message (message_type.h). value may be any object a pattern returned,
// and could come to refer back to its Message, so the type takes part in the
// cyclic garbage collector.
#include "message_type.h"

#include <structmember.h>

#include <cstddef>
#include <string>

namespace mqpy {
namespace {

struct MessageObject {
  PyObject_HEAD
  unsigned long long seq;
  PyObject* payload;
  PyObject* value;
};

#ifndef Py_TPFLAGS_DISALLOW_INSTANTIATION  // before Python 3.10: mq.Message() makes an empty one
#define Py_TPFLAGS_DISALLOW_INSTANTIATION 0
#endif

PyTypeObject* g_type = nullptr;

int Traverse(PyObject* self, visitproc visit, void* arg) {
  auto* m = reinterpret_cast<MessageObject*>(self);
  Py_VISIT(m->payload);
  Py_VISIT(m->value);
  Py_VISIT(Py_TYPE(self));  // a heap type
  return 0;
}

int Clear(PyObject* self) {
  auto* m = reinterpret_cast<MessageObject*>(self);
  Py_CLEAR(m->payload);
  Py_CLEAR(m->value);
  return 0;
}

void Dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  PyObject_GC_UnTrack(self);
  Clear(self);
  type->tp_free(self);
  Py_DECREF(type);
}

PyObject* Repr(PyObject* self) {
  auto* m = reinterpret_cast<MessageObject*>(self);
  return PyUnicode_FromFormat("mq.Message(seq=%llu, payload=%R)", m->seq, m->payload);
}

PyMemberDef g_members[] = {
    {"seq", T_ULONGLONG, offsetof(MessageObject, seq), READONLY, "The message's sequence number in its queue."},
    {"payload", T_OBJECT_EX, offsetof(MessageObject, payload), READONLY, "The message's bytes."},
    {"value", T_OBJECT_EX, offsetof(MessageObject, value), READONLY,
     "What a callable pattern returned; the payload for the other patterns."},
    {nullptr, 0, 0, 0, nullptr},
};

PyType_Slot g_slots[] = {
    {Py_tp_doc, const_cast<char*>("A received message.")},
    {Py_tp_dealloc, reinterpret_cast<void*>(&Dealloc)},
    {Py_tp_traverse, reinterpret_cast<void*>(&Traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(&Clear)},
    {Py_tp_repr, reinterpret_cast<void*>(&Repr)},
    {Py_tp_members, g_members},
    {0, nullptr},
};

PyType_Spec g_spec = {
    "mq.Message", sizeof(MessageObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION, g_slots,
};

}  // namespace

void RegisterMessage(py::module_& m) {
  PyObject* t = PyType_FromSpec(&g_spec);
  if (t == nullptr) throw py::error_already_set();
  g_type = reinterpret_cast<PyTypeObject*>(t);  // this file's reference, never dropped
  m.attr("Message") = py::handle(t);
}

py::object NewMessage(uint64_t seq, std::string_view payload, py::object value) {
  PyObject* b = PyBytes_FromStringAndSize(payload.data(), static_cast<Py_ssize_t>(payload.size()));
  if (b == nullptr) throw py::error_already_set();
  auto* m = PyObject_GC_New(MessageObject, g_type);
  if (m == nullptr) {
    Py_DECREF(b);
    throw py::error_already_set();
  }
  m->seq = seq;
  m->payload = b;
  m->value = value ? value.release().ptr() : (Py_INCREF(b), b);
  PyObject_GC_Track(reinterpret_cast<PyObject*>(m));
  return py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(m));
}

}  // namespace mqpy
