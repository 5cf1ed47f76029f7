// Mailbox::ReadyFd (mq/mailbox.h): the descriptor an event loop waits on.
#include "mailbox_impl.h"

namespace mq {

Result<int> Mailbox::ReadyFd() {
  {
    MutexLock g(&impl_->mu);
    if (impl_->closing) return Status::Closed(impl_->opt.queue_path + ": the mailbox is closed");
  }
  return impl_->ready_signal.Fd(impl_->opt.queue_path);
}

}  // namespace mq
