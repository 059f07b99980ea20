package lms.realtime.store;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.pekko.actor.AbstractExtensionId;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.Extension;

/**
 * What the node's journal writer has done, for the metrics ({@code lms_journal_commits_total},
 * {@code lms_journal_rows_total}: rows / commits is how many writes share a commit). The plugin is
 * made by Pekko, not by the node, so they meet here, one per actor system.
 */
public final class JournalStats implements Extension {
  private static final AbstractExtensionId<JournalStats> ID = new AbstractExtensionId<>() {
    @Override
    public JournalStats createExtension(ExtendedActorSystem system) {
      return new JournalStats();
    }
  };

  private final Set<CommitWriter> writers = ConcurrentHashMap.newKeySet();

  public static JournalStats get(ActorSystem system) {
    return ID.get(system);
  }

  void attach(CommitWriter writer) {
    writers.add(writer);
  }

  void detach(CommitWriter writer) {
    writers.remove(writer);
  }

  /** Transactions the journal committed. */
  public long commits() {
    return writers.stream().mapToLong(CommitWriter::commits).sum();
  }

  /** Rows (events) in those transactions. */
  public long rows() {
    return writers.stream().mapToLong(CommitWriter::rows).sum();
  }
}
