# Stan side of benchmarks/run_bayes.py for bayes: menl: compile
# tests/reference/bayes/nonlinear_orange.stan, then sample Orange's logistic growth with a
# random asymptote per tree (the priors of make_refs_bayes_menl.R) with Stan's defaults
# (4 chains, 1000 warm-up, 1000 draws, cores = 2). Prints JSON: compile seconds and the
# sampling wall time (warm-up + draws, compile excluded), summed chain times, minimum bulk ESS.
suppressMessages({library(rstan); library(jsonlite)})
t0 <- Sys.time()
model <- stan_model(file.path("tests", "reference", "bayes", "nonlinear_orange.stan"))
compile_s <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
d <- datasets::Orange
tree <- as.integer(factor(as.character(d$Tree)))
data <- list(N = nrow(d), J = max(tree), age = d$age, y = d$circumference, g = tree,
             prior_mean = c(200, 700, 350), prior_sd = c(100, 200, 100),
             u_shape = 2, u_scale = 1000, e_shape = 0.01, e_scale = 0.01)
t1 <- Sys.time()
fit <- sampling(model, data = data, chains = 4, iter = 2000, warmup = 1000, seed = 1,
                cores = 2, refresh = 0)
wall <- as.numeric(difftime(Sys.time(), t1, units = "secs"))
mon <- as.data.frame(monitor(as.array(fit, pars = c("b", "var_U", "sigma2")), warmup = 0,
                             print = FALSE))
out <- list(compile_s = compile_s,
            orange_menl = list(wall_s = wall, chain_s = sum(get_elapsed_time(fit)),
                               min_ess_bulk = min(mon$Bulk_ESS), max_rhat = max(mon$Rhat)),
            rstan = as.character(packageVersion("rstan")))
cat(toJSON(out, auto_unbox = TRUE, digits = NA))
