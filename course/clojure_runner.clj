;; The JVM side of the Clojure block checks (see course/clojure_blocks.py, which writes the
;; job and reads the results). One JVM for every block: each pure block is evaluated in a
;; fresh namespace, form by form, its `;; =>` values compared with = and, where nbb ran the
;; same block first, with nbb's values too; every other block is only read.
;;
;; Usage: clojure course/clojure_runner.clj job.edn
;; Prints one line per block: `@@START <id>` before, `@@RESULT <json>` after.

(ns clojure-blocks.runner
  (:require [clojure.edn :as edn]
            [clojure.string :as str]))

;; ------------------------------------------------------------------ a small JSON writer

(defn- json-str [s]
  (str "\""
       (str/escape s (fn [c]
                       (cond (= c \") "\\\""
                             (= c \\) "\\\\"
                             (= c \newline) "\\n"
                             (= c \return) "\\r"
                             (= c \tab) "\\t"
                             (< (int c) 32) (format "\\u%04x" (int c))
                             :else nil)))
       "\""))

(defn- json [v]
  (cond (nil? v) "null"
        (boolean? v) (str v)
        (number? v) (str v)
        (keyword? v) (json-str (name v))
        (string? v) (json-str v)
        (map? v) (str "{" (str/join "," (for [[k x] v] (str (json-str (name k)) ":" (json x)))) "}")
        (sequential? v) (str "[" (str/join "," (map json v)) "]")
        :else (json-str (str v))))

;; ------------------------------------------------------------------ reading

(def ^:private lenient-resolver
  "Resolves any alias to itself, so `::alias/kw` and syntax-quote read without the
  libraries a read-only block requires."
  (reify clojure.lang.LispReader$Resolver
    (currentNS [_] 'user)
    (resolveClass [_ sym] sym)
    (resolveAlias [_ sym] sym)
    (resolveVar [_ sym] sym)))

(defn- read-all-clojure [code]
  (let [rdr (clojure.lang.LineNumberingPushbackReader. (java.io.StringReader. code))
        eof (Object.)]
    (binding [*read-eval* false
              *default-data-reader-fn* tagged-literal
              *reader-resolver* lenient-resolver]
      (try
        (loop [n 0]
          (let [form (read {:eof eof :read-cond :allow :features #{:clj}} rdr)]
            (if (identical? form eof) {:forms n} (recur (inc n)))))
        (catch Throwable e
          {:error (str "cannot be read (line " (+ (.getLineNumber rdr) 0) " of the block): "
                       (or (ex-message (or (ex-cause e) e)) (class e)))})))))

(defn- read-all-edn [code aero-tags]
  (let [rdr (clojure.lang.LineNumberingPushbackReader. (java.io.StringReader. code))
        eof (Object.)
        bad (atom nil)
        tag-fn (fn [tag value]
                 (when-not (or (namespace tag) (contains? aero-tags (name tag)))
                   (reset! bad tag))
                 (tagged-literal tag value))]
    (try
      (loop [n 0]
        (let [form (edn/read {:eof eof :default tag-fn} rdr)]
          (cond @bad {:error (str "uses the tag #" @bad " (line " (.getLineNumber rdr)
                                  " of the block), which is neither one of Aero's ("
                                  (str/join " " (map #(str "#" %) (sort aero-tags)))
                                  ") nor namespaced like #ig/ref; fix the tag")}
                (identical? form eof) {:forms n}
                :else (recur (inc n)))))
      (catch Throwable e
        {:error (str "is not valid EDN (line " (.getLineNumber rdr) " of the block): "
                     (or (ex-message (or (ex-cause e) e)) (class e)))}))))

;; ------------------------------------------------------------------ comparing

(defn- ratio-or-char? [x] (or (ratio? x) (char? x)))

(defn- same-across-hosts?
  "Whether the JVM's value j equals nbb's value n (read back on the JVM). Numbers compare
  with == (ClojureScript has one number type: nbb's 2 is the JVM's 2.0), except ratios,
  which ClojureScript does not have; nbb's characters are strings."
  [j n]
  (cond (and (number? j) (number? n)) (and (not (ratio? j)) (not (ratio? n)) (== j n))
        (or (ratio-or-char? j) (ratio-or-char? n)) false
        (and (map? j) (map? n)) (and (= (count j) (count n))
                                     (every? (fn [[k v]] (and (contains? n k)
                                                              (same-across-hosts? v (get n k))))
                                             j))
        (and (set? j) (set? n)) (= j n)
        (and (sequential? j) (sequential? n)) (and (= (count j) (count n))
                                                   (every? true? (map same-across-hosts? j n)))
        :else (= j n)))

(defn- short [s]
  (let [s (str/replace (str s) #"\s+" " ")]
    (if (> (count s) 70) (str (subs s 0 67) "...") s)))

(defn- show [v] (binding [*print-length* 20 *print-level* 6] (short (pr-str v))))

(defn- root-cause [e]
  (if (and (instance? clojure.lang.Compiler$CompilerException e) (ex-cause e))
    (recur (ex-cause e))
    e))

(defn- throws-match? [e cls ns]
  (case cls
    ":default" true
    "ExceptionInfo" (instance? clojure.lang.ExceptionInfo e)
    (let [c (or (try (binding [*ns* ns] (resolve (symbol cls))) (catch Throwable _ nil))
                (try (Class/forName (str "java.lang." cls)) (catch Throwable _ nil))
                (try (Class/forName cls) (catch Throwable _ nil)))]
      (and (class? c) (instance? c e)))))

;; ------------------------------------------------------------------ evaluating

(defn- eval-step [step]
  (let [out (java.io.StringWriter.)
        form-text (:text step)
        res (binding [*out* out]
              (try
                (let [form (binding [*read-eval* false] (read-string form-text))]
                  {:value (eval form)})
                (catch Throwable e {:thrown (root-cause e)})))
        printed (str out)
        where (str "`" (short form-text) "`")]
    (merge
     {:line (:line step) :out printed}
     (case (:expect step)
       "value"
       (if-let [e (:thrown res)]
         {:ok false :message (str where " threw " (.getSimpleName (class e)) ": "
                                  (ex-message e) "; expected " (short (:value step)))}
         (let [expected (try {:v (read-string (:value step))}
                             (catch Throwable e {:error (ex-message e)}))
               actual (:value res)]
           (cond
             (:error expected)
             {:ok false :message (str "cannot read the expected value `" (short (:value step))
                                      "`: " (:error expected))}
             (not= (:v expected) actual)
             {:ok false :message (str where " returned " (show actual) " on the JVM, but the page says "
                                      "=> " (short (:value step))
                                      (when (and (number? actual) (number? (:v expected)))
                                        (str " (" (.getSimpleName (class actual)) " vs "
                                             (.getSimpleName (class (:v expected))) ")")))}
             (contains? step :other)
             (let [other (try {:v (binding [*default-data-reader-fn* tagged-literal
                                            *read-eval* false]
                                    (read-string (:other step)))}
                              (catch Throwable e {:error (ex-message e)}))]
               (if (and (not (:error other)) (same-across-hosts? actual (:v other)))
                 {:ok true :actual (pr-str actual)}
                 {:ok false
                  :message (str where " gives different values on the two hosts: "
                                (show actual) " on the JVM, " (short (:other step))
                                " on nbb (ClojureScript); both equal `" (short (:value step))
                                "` only by each host's own rules. Fix: make the result the same"
                                " on both (no ratios, chars or whole doubles in results; e.g."
                                " (double ...), quot, str), or mark the block `;; host: jvm — why`")}))
             :else {:ok true :actual (pr-str actual)})))

       "throws"
       (if-let [e (:thrown res)]
         (cond
           (not (throws-match? e (:cls step) *ns*))
           {:ok false :message (str where " threw " (.getName (class e)) " (" (ex-message e)
                                    "), but the page says it throws " (:cls step))}
           (and (:msg step) (not (str/includes? (str (ex-message e)) (:msg step))))
           {:ok false :message (str where " threw with the message " (pr-str (ex-message e))
                                    ", which does not contain " (pr-str (:msg step)))}
           :else {:ok true :actual (str "throws " (.getSimpleName (class e)))})
         {:ok false :message (str where " returned " (show (:value res)) " but the page says it "
                                  "throws " (:cls step))})

       ;; no expectation: it must not throw
       (if-let [e (:thrown res)]
         {:ok false :message (str where " threw " (.getName (class e)) ": " (ex-message e)
                                  " (mark an expected error with `;; throws ExceptionInfo`)")}
         {:ok true})))))

(defn- eval-block [n block]
  (let [before (set (all-ns))
        ns-sym (symbol (str "clojure-blocks.b" n))
        steps (atom [])
        work (future
               (binding [*ns* (create-ns ns-sym)]
                 (refer-clojure)
                 (loop [[s & more] (:steps block)]
                   (when s
                     (let [r (eval-step s)]
                       (swap! steps conj r)
                       (when (:ok r) (recur more)))))))
        done (deref work 30000 ::timeout)]
    (doseq [ns (all-ns) :when (not (contains? before ns))]
      (remove-ns (ns-name ns)))
    (if (= done ::timeout)
      (do (future-cancel work)
          {:steps @steps :error "did not finish within 30 s (an endless loop or a lazy infinite sequence printed?)"})
      {:steps @steps})))

(defn -main [job-file]
  (let [{:keys [aero-tags blocks]} (edn/read-string (slurp job-file))
        aero-tags (set aero-tags)]
    (doseq [[n block] (map-indexed vector blocks)]
      (println (str "@@START " (:id block)))
      (flush)
      (let [r (try
                (cond (= "eval" (:mode block)) (eval-block n block)
                      (= "edn" (:lang block)) (read-all-edn (:code block) aero-tags)
                      :else (read-all-clojure (:code block)))
                (catch Throwable e {:error (str "the checker failed: " e)}))]
        (println (str "@@RESULT " (json (assoc r :id (:id block)))))
        (flush)))
    (shutdown-agents)
    (System/exit 0)))

(apply -main *command-line-args*)
