# Stan side of benchmarks/run_bayes.py: compile tests/reference/bayes/glmm_independent.stan,
# then sample the three reference models with Stan's defaults (4 chains, 1000 warm-up,
# 1000 draws, cores = 2). Prints JSON: compile seconds, and per model the sampling wall time
# (warm-up + draws, compile excluded), the summed per-chain times and the minimum bulk ESS.
suppressMessages({library(rstan); library(jsonlite)})
ref <- "tests/reference"
read_data <- function(name) read.csv(file.path(ref, "data", paste0(name, ".csv")))
t0 <- Sys.time()
model <- stan_model(file.path(ref, "bayes", "glmm_independent.stan"))
compile_s <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
run <- function(X, Z, g, family, y, trials) {
  N <- nrow(X)
  data <- list(N = N, P = ncol(X), K = ncol(Z), J = max(g), family = family, X = X, Z = Z,
               g = g, y_real = if (family == 1) y else rep(0, N),
               y_int = if (family == 1) rep(0L, N) else as.integer(y),
               trials = if (family == 2) as.integer(trials) else rep(0L, N),
               prior_sd = 100, ig_shape = 0.01, ig_scale = 0.01)
  t1 <- Sys.time()
  fit <- sampling(model, data = data, chains = 4, iter = 2000, warmup = 1000, seed = 1,
                  cores = 2, refresh = 0)
  wall <- as.numeric(difftime(Sys.time(), t1, units = "secs"))
  pars <- c("beta", "var_u", if (family == 1) "sigma2")
  mon <- as.data.frame(monitor(as.array(fit, pars = pars), warmup = 0, print = FALSE))
  times <- get_elapsed_time(fit)
  list(wall_s = wall, chain_s = sum(times), min_ess_bulk = min(mon$Bulk_ESS),
       max_rhat = max(mon$Rhat))
}
ss <- read_data("sleepstudy")
cb <- read_data("cbpp")
ep <- read_data("epilepsy")
out <- list(
  compile_s = compile_s,
  sleepstudy_mixed = run(cbind(ss$Days, 1), cbind(1, ss$Days), as.integer(factor(ss$Subject)),
                         1, ss$Reaction, NULL),
  cbpp_melogit = run(cbind(cb$period == 2, cb$period == 3, cb$period == 4, 1) * 1,
                     matrix(1, nrow(cb), 1), as.integer(factor(cb$herd)), 2, cb$incidence,
                     cb$size),
  epilepsy_mepoisson = run(cbind(ep$lbase, ep$trt, ep$lbase_trt, ep$lage, ep$V4, 1),
                           matrix(1, nrow(ep), 1), as.integer(factor(ep$subject)), 3, ep$y,
                           NULL),
  rstan = as.character(packageVersion("rstan")))
cat(toJSON(out, auto_unbox = TRUE, digits = NA))
