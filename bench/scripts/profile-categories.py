#!/usr/bin/env python3
# Shares of an async-profiler collapsed CPU profile by library: JIT and GC threads first, then the innermost
# frame of each stack that belongs to a known library. usage: profile-categories.py PROFILE.collapsed
import sys, collections
cats = [
 ('jit', ['CompileBroker','C2Compiler','Compile::','C1_','PhaseChaitin']),
 ('gc', ['G1','GCTaskThread','ConcurrentGC','WorkerThread::run']),
 ('h2', ['org/h2/','org.h2.']),
 ('jdbc-pg', ['org/postgresql','org.postgresql']),
 ('hikari', ['com/zaxxer','com.zaxxer']),
 ('slick', ['slick/','slick.']),
 ('persistence-jdbc', ['pekko/persistence/jdbc','pekko.persistence.jdbc']),
 ('serialization', ['pekko/serialization','pekko.serialization','jackson/dataformat/cbor','jackson.dataformat.cbor']),
 ('persistence', ['pekko/persistence','pekko.persistence']),
 ('pekko-http', ['pekko/http','pekko.http']),
 ('sharding', ['pekko/cluster/sharding','pekko.cluster.sharding']),
 ('lms', ['lms/realtime','lms.realtime']),
 ('netty', ['io/netty','io.netty']),
 ('pekko-actor', ['pekko/actor','pekko.actor','pekko/dispatch','pekko.dispatch']),
 ('scala-future', ['scala/concurrent','scala.concurrent']),
]
tot=0; c=collections.Counter()
for line in open(sys.argv[1]):
    line=line.rstrip()
    if not line: continue
    stack, n = line.rsplit(' ',1); n=int(n); tot+=n
    frames = stack.split(';')
    got=None
    # thread-level: JIT/GC anywhere
    for name,pats in cats[:2]:
        if any(p in stack for p in pats): got=name; break
    if not got:
        # innermost matching category (leaf-most frame that belongs to a category), scanning leaf->root
        for f in reversed(frames):
            for name,pats in cats[2:]:
                if any(p in f for p in pats): got=name; break
            if got: break
    c[got or 'other(kernel/jvm/jdk)']+=n
for k,v in c.most_common(): print(f"{k:28s} {100*v/tot:5.1f}%")
print('total samples',tot)
