"""`make chaos`: the workload under controller kills, leader changes, pod deletions and
control-plane restarts, then checks that nothing was lost or done twice (docs/reliability.md)."""
