#!/usr/bin/env escript
%% Erlang's own mailbox, the system mq imitates (in memory, not durable), as a
%% reference for docs/benchmarks.md. Run by bench/run:
%%
%%   escript bench/erlang_mailbox.escript OUT.json quick|full|spawn
%%
%% (spawn: only spawn/erlang below; bench/run --only runtime runs it next to
%% mq_bench_runtime, so that the two are measured in one run)
%%
%% recv/erlang/backlog=K       a process holds K non-matching messages {other, I}
%%                             and receives `receive {wanted, X} -> X end` R times
%%                             (the R wanted messages sit behind the K others);
%%                             the time is per receive
%% drain-reverse/erlang/n=K    the process holds {wanted, K-1} ... {wanted, 0}
%%                             and receives {wanted, 0}, {wanted, 1}, ...; the
%%                             time is for the whole drain
%% spawn/erlang/processes=N   spawns N processes that each wait in `receive`, then
%%                             sends each one message and waits for each one's
%%                             answer (issue 23's anchor for an idle mailbox); the
%%                             time is per process spawned; counters: memory per
%%                             waiting process (process_info(P, memory), bytes)
%%                             and the send-and-answer round per process (ns)
%%
%% The output has Google Benchmark's JSON shape so bench/report.py reads it
%% like the other results.
-mode(compile).

main([Out, "spawn"]) ->
    ok = file:write_file(Out, json_doc([spawn_bench(1000)])),
    io:format("wrote ~s~n", [Out]);
main([Out, Mode]) ->
    Quick = Mode =:= "quick",
    Backlogs = case Quick of
                   true -> [100, 1000, 10000, 100000];
                   false -> [100, 1000, 10000, 100000, 1000000]
               end,
    Drains = case Quick of
                 true -> [100, 1000, 10000];
                 false -> [100, 1000, 10000, 100000]
             end,
    Recv = [recv_bench(K) || K <- Backlogs],
    Drain = [drain_bench(K) || K <- Drains],
    Spawn = [spawn_bench(1000)],
    Json = json_doc(Recv ++ Drain ++ Spawn),
    ok = file:write_file(Out, Json),
    io:format("wrote ~s~n", [Out]);
main(_) ->
    io:format(standard_error, "usage: erlang_mailbox.escript OUT.json quick|full|spawn~n", []),
    halt(2).

%% Runs F in a fresh process (so its mailbox starts empty) and returns its result.
in_process(F) ->
    Parent = self(),
    Ref = make_ref(),
    spawn_link(fun() -> Parent ! {Ref, F()} end),
    receive {Ref, R} -> R end.

recv_bench(K) ->
    %% Enough receives for a stable figure, but few enough to finish.
    Reps = max(20, min(20000, 20000000 div K)),
    Ns = in_process(fun() ->
        fill_other(K),
        fill_wanted(Reps),
        T0 = erlang:monotonic_time(nanosecond),
        recv_wanted(Reps),
        T1 = erlang:monotonic_time(nanosecond),
        (T1 - T0) / Reps
    end),
    io:format(standard_error, "recv/erlang/backlog=~b: ~.3f us per receive~n", [K, Ns / 1000]),
    {io_lib:format("recv/erlang/backlog=~b", [K]), Reps, Ns, [{backlog, K}]}.

fill_other(0) -> ok;
fill_other(N) -> self() ! {other, N}, fill_other(N - 1).

fill_wanted(R) -> [self() ! {wanted, I} || I <- lists:seq(1, R)], ok.

recv_wanted(0) -> ok;
recv_wanted(N) -> receive {wanted, _X} -> ok end, recv_wanted(N - 1).

drain_bench(K) ->
    Ns = in_process(fun() ->
        [self() ! {wanted, I} || I <- lists:seq(K - 1, 0, -1)],
        T0 = erlang:monotonic_time(nanosecond),
        drain(0, K),
        T1 = erlang:monotonic_time(nanosecond),
        T1 - T0
    end),
    io:format(standard_error, "drain-reverse/erlang/n=~b: ~.3f ms~n", [K, Ns / 1.0e6]),
    {io_lib:format("drain-reverse/erlang/n=~b", [K]), 1, Ns, [{n, K}, {items_per_second, K / (Ns / 1.0e9)}]}.

spawn_bench(N) ->
    in_process(fun() ->
        Parent = self(),
        M0 = 0,
        T0 = erlang:monotonic_time(nanosecond),
        Pids = [spawn(fun() -> receive {ping, From} -> From ! {pong, self()} end end)
                || _ <- lists:seq(1, N)],
        T1 = erlang:monotonic_time(nanosecond),
        %% Each waiting process's own memory (heap, stack, mailbox, the
        %% process structure): erlang:memory(processes) also moves with
        %% the earlier benchmarks' processes being freed.
        M1 = M0 + lists:sum([Bytes || P <- Pids, {memory, Bytes} <- [erlang:process_info(P, memory)]]),
        [P ! {ping, Parent} || P <- Pids],
        [receive {pong, P} -> ok end || P <- Pids],
        T2 = erlang:monotonic_time(nanosecond),
        Spawn = (T1 - T0) / N,
        Mem = (M1 - M0) / N,
        Round = (T2 - T1) / N,
        io:format(standard_error, "spawn/erlang/processes=~b: ~.3f us per spawn, ~.1f bytes per waiting "
                  "process, ~.3f us per message and answer~n", [N, Spawn / 1000, Mem, Round / 1000]),
        {io_lib:format("spawn/erlang/processes=~b", [N]), N, Spawn,
         [{processes, N}, {memory_per_process, Mem}, {round_ns, Round}]}
    end).

drain(K, K) -> ok;
drain(I, K) -> receive {wanted, I} -> ok end, drain(I + 1, K).

%% ---- a little JSON in Google Benchmark's shape ----

json_doc(Rows) ->
    {{Y, Mo, D}, {H, Mi, S}} = calendar:local_time(),
    Date = io_lib:format("~4..0b-~2..0b-~2..0bT~2..0b:~2..0b:~2..0b", [Y, Mo, D, H, Mi, S]),
    Ctx = io_lib:format("{\"date\": \"~s\", \"executable\": \"erlang_mailbox.escript\", "
                        "\"erlang_otp_release\": \"~s\", \"erts_version\": \"~s\", \"num_cpus\": ~b}",
                        [Date, erlang:system_info(otp_release), erlang:system_info(version),
                         erlang:system_info(logical_processors)]),
    Bs = lists:join(",\n", [json_row(R) || R <- Rows]),
    ["{\"context\": ", Ctx, ",\n\"benchmarks\": [\n", Bs, "\n]}\n"].

json_row({Name, Iters, Ns, Extra}) ->
    Fields = [io_lib:format("\"~s\": ~s", [atom_to_list(Kx), num(V)]) || {Kx, V} <- Extra],
    io_lib:format("{\"name\": \"~s\", \"run_name\": \"~s\", \"run_type\": \"iteration\", "
                  "\"iterations\": ~b, \"real_time\": ~s, \"cpu_time\": ~s, \"time_unit\": \"ns\"~s}",
                  [Name, Name, Iters, num(Ns), num(Ns),
                   [[", ", F] || F <- Fields]]).

num(V) when is_integer(V) -> integer_to_list(V);
num(V) -> float_to_list(float(V), [{decimals, 3}]).
